package sockit_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"

	"sockit"
	"sockit/server"
	"sockit/service"
)

// The seed's server and client in a few lines: serve the greeting on a TCP
// port and read it back.
func Example() {
	ctx := context.Background()
	ln, err := sockit.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &server.Server{Handler: service.Greet{}}
	go srv.Serve(ln)
	defer srv.Close()

	conn, err := sockit.Dial(ctx, ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	greeting, _ := io.ReadAll(conn)
	fmt.Printf("%s", greeting)
	// Output: Thank you for connecting
}

// A datagram listener yields one connection per peer, so the same handlers
// serve UDP: here an echo.
func ExampleListen_udp() {
	ctx := context.Background()
	ln, err := sockit.Listen(ctx, "udp://127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &server.Server{Handler: service.Echo{}}
	go srv.Serve(ln)
	defer srv.Close()

	conn, err := sockit.Dial(ctx, "udp://"+ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("ping"))
	buf := make([]byte, 16)
	n, _ := conn.Read(buf)
	fmt.Printf("%s\n", buf[:n])
	// Output: ping
}

// Join is the relay: it copies both ways, passes each half-close on and
// reports the bytes moved. Here it joins a client to an echo server.
func ExampleJoin() {
	ctx := context.Background()
	echoLn, _ := sockit.Listen(ctx, "127.0.0.1:0")
	echo := &server.Server{Handler: service.Echo{}}
	go echo.Serve(echoLn)
	defer echo.Close()

	front, _ := sockit.Listen(ctx, "127.0.0.1:0")
	defer front.Close()
	joined := make(chan string)
	go func() {
		conn, _ := front.Accept()
		target, _ := sockit.Dial(ctx, echoLn.Addr().String())
		stats, err := sockit.Join(ctx, conn, target)
		joined <- fmt.Sprint(stats.AToB, stats.BToA, err)
	}()

	client, err := sockit.Dial(ctx, front.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	io.WriteString(client, "ping")
	client.(*net.TCPConn).CloseWrite()
	reply, _ := io.ReadAll(client)
	client.Close()
	fmt.Println(string(reply), <-joined)
	// Output: ping 4 4 <nil>
}
