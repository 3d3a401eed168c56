import socket
import sys

s = socket.socket()
print("Socket Successfully created")

port = 12345
if len(sys.argv) > 1:
	port = int(sys.argv[1])

s.bind(('', port))
print("Socket binded to %s" %(port))

s.listen(5)
print("socket is listening")

while True:
	c, addr = s.accept()
	print('Got connection from', addr)
	c.send('Thank you for connecting'.encode())
	c.close()
