#ifndef PORTCULLIS_CNAMESPACESUPPORT_H
#define PORTCULLIS_CNAMESPACESUPPORT_H
/* Moves the calling thread into a new, empty network namespace (unshare(CLONE_NEWNET),
 * which glibc declares only under _GNU_SOURCE). Returns 0, or -1 with errno set. */
int portcullis_test_unshare_network(void);
#endif
