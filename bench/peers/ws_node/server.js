// ws_node: the Node.js baseline. A WebSocket server (the `ws` package) on 127.0.0.1
// that broadcasts every text frame it receives to every connected client, the sender
// included, with Nagle off. Usage: node server.js [--port P] [--max-seconds S]
'use strict';
const { WebSocketServer, WebSocket } = require('ws');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : dflt;
};

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: opt('--port', 0),
  perMessageDeflate: false,
  maxPayload: 1 << 20,
  backlog: 4096,
});
wss.on('listening', () => {
  console.error(`listening on 127.0.0.1:${wss.address().port}`);
});
wss.on('connection', (ws, req) => {
  req.socket.setNoDelay(true);
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
  ws.on('error', () => {});
});
const stop = () => wss.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(() => process.exit(0), opt('--max-seconds', 3600) * 1000).unref();
