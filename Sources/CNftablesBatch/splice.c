#define _GNU_SOURCE
#include "CNftablesBatch.h"

#include <dlfcn.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SO_SNDBUFFORCE
#define SO_SNDBUFFORCE 32
#endif
#ifndef SO_RCVBUFFORCE
#define SO_RCVBUFFORCE 33
#endif

typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef ssize_t (*recvmsg_fn)(int, struct msghdr *, int);

static ssize_t raw_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return syscall(SYS_sendmsg, fd, msg, flags);
}

static ssize_t raw_recvmsg(int fd, struct msghdr *msg, int flags)
{
    return syscall(SYS_recvmsg, fd, msg, flags);
}

/* libc's function `name`, found on first use (a shared library's constructor may send
 * before ours would run) and kept in `slot`; should dlsym fail, `fallback` (the system
 * call itself). */
static void *next_definition(void *_Atomic *slot, const char *name, void *fallback)
{
    void *f = atomic_load_explicit(slot, memory_order_acquire);
    if (!f) {
        int saved = errno;
        f = dlsym(RTLD_NEXT, name);
        errno = saved;
        if (!f)
            f = fallback;
        atomic_store_explicit(slot, f, memory_order_release);
    }
    return f;
}

static void *_Atomic libc_sendmsg;
static void *_Atomic libc_recvmsg;

static sendmsg_fn real_sendmsg(void)
{
    return (sendmsg_fn)next_definition(&libc_sendmsg, "sendmsg", (void *)raw_sendmsg);
}

static recvmsg_fn real_recvmsg(void)
{
    return (recvmsg_fn)next_definition(&libc_recvmsg, "recvmsg", (void *)raw_recvmsg);
}

int portcullis_splice_interposed(void)
{
    return dlsym(RTLD_DEFAULT, "sendmsg") == (void *)sendmsg && dlsym(RTLD_DEFAULT, "recvmsg") == (void *)recvmsg;
}

/* Per thread: the bytes to splice (armed until the batch is seen), and whether replies
 * are to be watched for errors about them (from the splice until disarm). */
static __thread const void *armed_messages;
static __thread size_t armed_length;
static __thread int armed;
static __thread int watching;
static __thread uint32_t spliced_count;
static __thread portcullis_splice_result outcome;

static int is_nftables_batch_message(const void *p, size_t len, uint16_t type, int exact)
{
    const struct nlmsghdr *h = p;
    if (len < NLMSG_LENGTH(sizeof(struct nfgenmsg)))
        return 0;
    if (h->nlmsg_type != type || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg)))
        return 0;
    if (exact && h->nlmsg_len != NLMSG_LENGTH(sizeof(struct nfgenmsg)))
        return 0;
    const struct nfgenmsg *g = NLMSG_DATA(h);
    return be16toh(g->res_id) == NFNL_SUBSYS_NFTABLES;
}

static uint32_t count_messages(const void *p, size_t len)
{
    uint32_t n = 0;
    const char *c = p;
    while (len >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *h = (const void *)c;
        size_t step = NLMSG_ALIGN(h->nlmsg_len);
        if (h->nlmsg_len < sizeof(struct nlmsghdr) || step > len)
            break;
        n++;
        c += step;
        len -= step;
    }
    return n;
}

void portcullis_splice_arm(const void *messages, size_t length)
{
    memset(&outcome, 0, sizeof(outcome));
    armed_messages = messages;
    armed_length = length;
    spliced_count = count_messages(messages, length);
    armed = 1;
    watching = 0;
}

portcullis_splice_result portcullis_splice_disarm(void)
{
    armed = 0;
    watching = 0;
    armed_messages = NULL;
    armed_length = 0;
    return outcome;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (!armed)
        return real_sendmsg()(fd, msg, flags);
    armed = 0;

    /* libnftables 1.0.x sends its whole batch in one sendmsg(): BATCH_BEGIN at the start
     * of the first iovec, BATCH_END at the end of the last. Anything else is refused. */
    size_t end_len = NLMSG_ALIGN(NLMSG_LENGTH(sizeof(struct nfgenmsg)));
    if (msg->msg_iovlen < 1) {
        outcome.refused_shape = 1;
        errno = EPROTO;
        return -1;
    }
    const struct iovec *first = &msg->msg_iov[0];
    const struct iovec *last = &msg->msg_iov[msg->msg_iovlen - 1];
    if (!is_nftables_batch_message(first->iov_base, first->iov_len, NFNL_MSG_BATCH_BEGIN, 0) ||
        last->iov_len < end_len ||
        !is_nftables_batch_message((const char *)last->iov_base + last->iov_len - end_len, end_len,
                                   NFNL_MSG_BATCH_END, 1)) {
        outcome.refused_shape = 1;
        errno = EPROTO;
        return -1;
    }

    size_t original = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++)
        original += msg->msg_iov[i].iov_len;
    size_t count = msg->msg_iovlen + 2;
    struct iovec *iov = calloc(count, sizeof(*iov));
    if (!iov) {
        errno = ENOMEM;
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i + 1 < msg->msg_iovlen; i++)
        iov[k++] = msg->msg_iov[i];
    iov[k].iov_base = last->iov_base;
    iov[k++].iov_len = last->iov_len - end_len;
    iov[k].iov_base = (void *)armed_messages;
    iov[k++].iov_len = armed_length;
    iov[k].iov_base = (char *)last->iov_base + last->iov_len - end_len;
    iov[k++].iov_len = end_len;

    struct msghdr spliced = *msg;
    spliced.msg_iov = iov;
    spliced.msg_iovlen = k;
    size_t total = original + armed_length;
    /* netlink refuses a message longer than the send buffer (minus a little). */
    int size = (int)(total + 65536);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size));
    /* A refused message comes back whole in its error reply: make room for every one, so
     * that the refusals are reported rather than lost. */
    int room = (int)((spliced_count + 16) * 72 * 1024);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &room, sizeof(room));

    ssize_t sent = real_sendmsg()(fd, &spliced, flags);
    int saved = errno;
    free(iov);
    if (sent < 0) {
        errno = saved;
        return sent;
    }
    outcome.spliced = 1;
    watching = 1;
    return (size_t)sent == total ? (ssize_t)original : sent;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    ssize_t received = real_recvmsg()(fd, msg, flags);
    if (received < 0 && watching && errno == ENOBUFS)
        outcome.replies_lost = 1;
    if (received <= 0 || !watching || msg->msg_iovlen < 1)
        return received;
    size_t len = (size_t)received < msg->msg_iov[0].iov_len ? (size_t)received : msg->msg_iov[0].iov_len;
    const char *c = msg->msg_iov[0].iov_base;
    while (len >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *h = (const void *)c;
        size_t step = NLMSG_ALIGN(h->nlmsg_len);
        if (h->nlmsg_len < sizeof(struct nlmsghdr) || h->nlmsg_len > len)
            break;
        if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
            const struct nlmsgerr *e = NLMSG_DATA(h);
            uint32_t seq = h->nlmsg_seq;
            if (e->error != 0 && seq >= PORTCULLIS_SPLICE_SEQ_BASE && seq - PORTCULLIS_SPLICE_SEQ_BASE < spliced_count) {
                if (outcome.kernel_error_count++ == 0)
                    outcome.kernel_error = -e->error;
            }
        }
        if (step > len)
            break;
        c += step;
        len -= step;
    }
    return received;
}
