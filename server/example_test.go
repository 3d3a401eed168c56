package server_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strings"

	"sockit/server"
)

// A Server runs a Handler for every connection; middleware wraps it.
func ExampleServer() {
	upper := server.HandlerFunc(func(ctx context.Context, c net.Conn) error {
		b, err := io.ReadAll(io.LimitReader(c, 5))
		if err != nil {
			return err
		}
		_, err = io.WriteString(c, strings.ToUpper(string(b)))
		return err
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &server.Server{Handler: upper, MaxConns: 100}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	io.WriteString(c, "hello")
	reply, _ := io.ReadAll(c)
	fmt.Println(string(reply))
	// Output: HELLO
}
