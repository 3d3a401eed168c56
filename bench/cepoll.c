/*
 * cepoll: the fast path's greeting system calls, in C, to tell the cost of
 * the design (epoll, send with MSG_MORE then shutdown, a linger queue)
 * from the cost of the Go runtime around it. One process, 127.0.0.1:PORT.
 * Not part of compare.sh; docs/performance.md ("The accept path") has the
 * measurements.
 *
 *   gcc -O2 -o cepoll bench/cepoll.c && ./cepoll PORT MODE
 *
 * MODE is a sum of: 1 wait in epoll_wait (else block in accept4),
 * 2 send(MSG_MORE) + shutdown(SHUT_WR) (else send and close), 4 keep
 * greeted sockets in a queue, drained and closed 64 at a time (else close
 * at once), 8 accept until EAGAIN on each wake (else one per wake).
 * sockit's greeting loop is mode 7 at one client, 15 under load.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char greeting[] = "Thank you for connecting\n";

int main(int argc, char **argv) {
	static int queue[64];
	struct sockaddr_in sa;
	struct epoll_event ev, evs[256];
	int port, mode, fd, ep, one = 1, queued = 0;

	if (argc < 3) { fprintf(stderr, "usage: cepoll PORT MODE\n"); return 2; }
	port = atoi(argv[1]);
	mode = atoi(argv[2]);
	fd = socket(AF_INET, SOCK_STREAM | ((mode & 1) ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0) { perror("socket"); return 1; }
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); return 1; }
	if (listen(fd, 4096) < 0) { perror("listen"); return 1; }
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	fprintf(stderr, "listening on 127.0.0.1:%d (mode %d)\n", port, mode);
	for (;;) {
		if ((mode & 1) && epoll_wait(ep, evs, 256, -1) <= 0)
			continue;
		for (;;) {
			int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c < 0)
				break;
			if (mode & 2) {
				send(c, greeting, sizeof greeting - 1, MSG_MORE | MSG_NOSIGNAL);
				shutdown(c, SHUT_WR);
			} else {
				send(c, greeting, sizeof greeting - 1, MSG_NOSIGNAL);
			}
			if (mode & 4) {
				queue[queued++] = c;
				if (queued == 64) {
					char b[64];
					for (int i = 0; i < queued; i++) {
						if (read(queue[i], b, sizeof b) < 0) {
						}
						close(queue[i]);
					}
					queued = 0;
				}
			} else {
				close(c);
			}
			if (!(mode & 8))
				break;
		}
	}
}
