/*
 * cloop: the floor for a greeting server. N processes (default 2) share a
 * port with SO_REUSEPORT; each loops on accept4, send and close, nothing
 * else. bench/compare.sh compiles it with gcc at run time.
 *
 *   cloop PORT [PROCESSES]      listens on 127.0.0.1:PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char greeting[] = "Thank you for connecting\n";

static int listener(int port) {
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	struct sockaddr_in sa;
	if (fd < 0) { perror("socket"); exit(1); }
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); exit(1); }
	if (listen(fd, 4096) < 0) { perror("listen"); exit(1); }
	return fd;
}

static void serve(int fd) {
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		/* MSG_NOSIGNAL: a client that already left must not kill us
		   with SIGPIPE; there is nothing else to do about it. */
		if (send(c, greeting, sizeof greeting - 1, MSG_NOSIGNAL) < 0) {
		}
		close(c);
	}
}

int main(int argc, char **argv) {
	int port, n, i;
	if (argc < 2) { fprintf(stderr, "usage: cloop PORT [PROCESSES]\n"); return 2; }
	port = atoi(argv[1]);
	n = argc > 2 ? atoi(argv[2]) : 2;
	/* Every process binds its own socket before any serves, so the group
	   is complete when the first one accepts. */
	int fds[64];
	if (n < 1 || n > 64) { fprintf(stderr, "cloop: 1 to 64 processes\n"); return 2; }
	for (i = 0; i < n; i++)
		fds[i] = listener(port);
	for (i = 1; i < n; i++)
		if (fork() == 0) {
			/* Die with the parent: whoever started cloop kills one PID. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() == 1)
				return 0;
			serve(fds[i]);
		}
	fprintf(stderr, "listening on 127.0.0.1:%d (%d processes)\n", port, n);
	serve(fds[0]);
	return 0;
}
