// Preload for reference servers that call server.listen(port) without a host
// (e.g. server-everything's streamableHttp mode binds every interface).
// Usage: node --require ./loopback.cjs <server.js> ...
// Forces listen() onto 127.0.0.1 when no host is given and, once listening,
// prints "interop-loopback: listening on 127.0.0.1:<port>" on stderr, so a
// test can start a server with PORT=0 and learn the port it got.
"use strict";
const net = require("node:net");

const origListen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === "object" && !Array.isArray(first)) {
    // listen(options[, cb]) with a TCP port and no host
    if (first.path === undefined && first.host === undefined && first.port !== undefined) {
      args[0] = { ...first, host: "127.0.0.1" };
    }
  } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, cb]); a string of digits is a port
    if (typeof args[1] !== "string") args.splice(1, 0, "127.0.0.1");
  }
  this.once("listening", () => {
    const a = this.address();
    if (a && typeof a === "object") {
      process.stderr.write(`interop-loopback: listening on ${a.address}:${a.port}\n`);
    }
  });
  return origListen.apply(this, args);
};
