#define _GNU_SOURCE
#include <sched.h>
#include "CNamespaceSupport.h"

int portcullis_test_unshare_network(void)
{
    return unshare(CLONE_NEWNET);
}
