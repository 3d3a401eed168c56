// Command naive is the baseline sockit is measured against: the server a Go
// programmer writes first, one goroutine per connection and nothing clever.
//
//	naive -listen 127.0.0.1:9000 -mode greet     write the greeting, close
//	naive -listen 127.0.0.1:9000 -mode echo      io.Copy(conn, conn) until EOF
//	naive -listen 127.0.0.1:9000 -mode relay -to 127.0.0.1:9001
//	                                             io.Copy both ways (splice), half-close
//
// bench/compare.sh also uses its echo mode as the echo server behind every
// relay under test.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	mode := flag.String("mode", "greet", "greet, echo or relay")
	to := flag.String("to", "", "relay: address to connect each client to")
	greeting := flag.String("greeting", "Thank you for connecting\n", "greet: the greeting")
	flag.Parse()
	log.SetFlags(0)

	var handle func(net.Conn)
	switch *mode {
	case "greet":
		msg := []byte(*greeting)
		handle = func(c net.Conn) { c.Write(msg) }
	case "echo":
		handle = func(c net.Conn) {
			io.Copy(c, c)
			c.(*net.TCPConn).CloseWrite()
		}
	case "relay":
		if *to == "" {
			log.Fatal("naive: -mode relay needs -to")
		}
		handle = func(c net.Conn) { relay(c.(*net.TCPConn), *to) }
	default:
		log.Fatalf("naive: unknown mode %q", *mode)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Printf("accept: %v", err)
			continue
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

// relay joins c to a new connection to addr, both directions with io.Copy
// (which splices between TCP sockets), passing each half-close on.
func relay(c *net.TCPConn, addr string) {
	d, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer d.Close()
	up := d.(*net.TCPConn)
	var wg sync.WaitGroup
	wg.Go(func() {
		io.Copy(up, c)
		up.CloseWrite()
	})
	io.Copy(c, up)
	c.CloseWrite()
	wg.Wait()
}
