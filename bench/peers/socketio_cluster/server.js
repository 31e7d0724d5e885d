// socketio_cluster: the Socket.IO peer of a parley cluster. One process of a Socket.IO
// cluster on 127.0.0.1 (websocket transport, no per-message compression; ws turns Nagle off),
// joined to the others through one Redis by @socket.io/redis-adapter, as a team would
// build it. Every client joins the room "bench"; each "message" event a client emits
// is broadcast to that room on every process with io.to(room).emit, the sender
// included, and without acks: the sender's own copy is what parley-bench waits for.
// Usage: node server.js [--port P] [--redis-url URL] [--max-seconds S]
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const ROOM = 'bench';

async function main() {
  const pub = createClient({ url: opt('--redis-url', 'redis://127.0.0.1:6379') });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const server = http.createServer();
  const io = new Server(server, {
    adapter: createAdapter(pub, sub),
    transports: ['websocket'],
    perMessageDeflate: false,
    maxHttpBufferSize: 1 << 20,
  });
  io.on('connection', (socket) => {
    socket.join(ROOM);
    socket.on('message', (data) => io.to(ROOM).emit('message', data));
  });
  server.listen({ host: '127.0.0.1', port: Number(opt('--port', 0)), backlog: 4096 }, () => {
    console.error(`listening on 127.0.0.1:${server.address().port}`);
  });
  const stop = () => io.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  setTimeout(() => process.exit(0), Number(opt('--max-seconds', 3600)) * 1000).unref();
}
main().catch((err) => {
  console.error(`socketio_cluster: ${err.message}`);
  process.exit(1);
});
