#ifndef PORTCULLIS_CNFTABLESBATCH_H
#define PORTCULLIS_CNFTABLESBATCH_H
/*
 * Splices pre-built set element messages into the one netlink batch that libnftables
 * sends for a script, so that a full replace (tables and rules from libnftables' parser,
 * tens of thousands of set elements encoded by the daemon) is still ONE transaction.
 *
 * libnftables has no API to add messages to its batch. Its batch leaves the process
 * through exactly one sendmsg() (nftables 1.0.x, mnl_batch_talk()); this library defines
 * sendmsg() and recvmsg(), which the dynamic linker binds for libnftables ahead of libc's.
 * They do nothing but call libc's unless the calling thread has armed a splice, and an
 * armed splice that meets a message that is not an nftables batch refuses to send it
 * (fail closed: nothing is committed, the caller loads the plain text instead).
 */
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

/* Sequence numbers of spliced messages start here; libnftables 1.0.x numbers the messages
 * of each batch from 0 upwards, far below this range. */
#define PORTCULLIS_SPLICE_SEQ_BASE 0x10000000u

/* The nftables families of our tables (linux/netfilter.h, which cannot be included next
 * to glibc's netinet/in.h). */
#define PORTCULLIS_NFPROTO_INET 1
#define PORTCULLIS_NFPROTO_ARP 3
#define PORTCULLIS_NFPROTO_BRIDGE 7

/* What happened to an armed splice. */
typedef struct {
    /* 1 when the messages went to the kernel inside libnftables' batch. */
    int spliced;
    /* 1 when the thread's next sendmsg() was not an nftables batch: nothing was sent. */
    int refused_shape;
    /* The kernel's errno for the first spliced message it refused (0: none). */
    int kernel_error;
    /* How many spliced messages the kernel refused. */
    int kernel_error_count;
    /* 1 when replies were lost (ENOBUFS): more refusals than the receive buffer held. */
    int replies_lost;
} portcullis_splice_result;

/* 1 when the sendmsg() and recvmsg() that libnftables binds to are this library's (the
 * executable exports them), 0 when splicing cannot work in this process. */
int portcullis_splice_interposed(void);

/* Arms the calling thread: the next nftables batch it sends gets `length` bytes of
 * netlink messages (sequence numbers PORTCULLIS_SPLICE_SEQ_BASE...) inserted before its
 * BATCH_END. The bytes must stay valid until portcullis_splice_disarm(). */
void portcullis_splice_arm(const void *messages, size_t length);

/* Disarms the calling thread and reports what happened since portcullis_splice_arm(). */
portcullis_splice_result portcullis_splice_disarm(void);

#endif
