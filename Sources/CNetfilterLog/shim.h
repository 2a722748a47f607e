#ifndef PORTCULLIS_CNETFILTERLOG_SHIM_H
#define PORTCULLIS_CNETFILTERLOG_SHIM_H
#include <stdint.h>
#include <sys/types.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnetfilter_log/libnetfilter_log.h>
#endif
