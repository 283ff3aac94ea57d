#!/usr/bin/env node
// A minimal teleport edge: HTTP/1.1 in, one teleport.v1 gRPC tunnel stream out (docs/protocol.md).
//
// What it does, and no more (the "minimal edge" of docs/protocol.md):
// - one Tunnel.Open stream to the origin; hello first, version 1, no capabilities (so the origin never
//   sends the Brotli stream codec, and this edge never sends it);
// - every HTTP request becomes one request_start item with a fresh exchange id (counting up from 1);
//   items queued in the same turn of the event loop travel in one batch, kept under the origin's limits;
// - answers are matched by exchange id, in whatever order they come;
// - a client that goes away gets its exchange cancelled; a stream that ends fails every open exchange
//   with 502, and the edge connects again with backoff;
// - gzip for the messages it sends (grpc-js message compression), or none with --compression none.
'use strict';

const http = require('node:http');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTOS = path.join(__dirname, '..', '..', 'protos');
const AGENT = 'teleport-node-edge/0.1.0';
// Room in every message for the item envelope and header fields beside the body bytes.
const HEADROOM = 64 * 1024;
// gRPC's default message limit, which a hello's max_message_bytes of 0 stands for.
const GRPC_DEFAULT_MAX = 4 * 1024 * 1024;
const HELLO_TIMEOUT_MS = 10_000;

// Hop-by-hop fields are never forwarded, in either direction (docs/protocol.md, "HTTP rules").
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate',
  'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

// ErrorCode -> the client's status and the X-Teleport-Error stage (docs/protocol.md, "Errors").
const ERRORS = {
  ERROR_CODE_UPSTREAM_CONNECT: [502, 'upstream-connect'],
  ERROR_CODE_UPSTREAM_TIMEOUT: [504, 'upstream-timeout'],
  ERROR_CODE_UPSTREAM_RESPONSE: [502, 'upstream-response'],
  ERROR_CODE_RESPONSE_TOO_LARGE: [502, 'response-too-large'],
  ERROR_CODE_BAD_REQUEST: [400, 'bad-request'],
  ERROR_CODE_REQUEST_TOO_LARGE: [413, 'request-too-large'],
  ERROR_CODE_OVERLOADED: [503, 'origin-overloaded'],
  ERROR_CODE_NO_UPSTREAM: [502, 'no-upstream'],
  ERROR_CODE_SHUTTING_DOWN: [503, 'origin-shutting-down'],
  ERROR_CODE_INTERNAL: [502, 'origin-internal'],
};

function parseArgs(argv) {
  const options = {
    listen: '127.0.0.1:8080',
    origin: 'http://127.0.0.1:9090',
    compression: 'gzip',
    requestTimeoutMs: 30_000,
    tunnelWaitMs: 5_000,
    maxBodyBytes: 16 * 1024 * 1024,
  };
  const flags = {
    '--listen': (v) => { options.listen = v; },
    '--origin': (v) => { options.origin = v; },
    '--compression': (v) => {
      if (v !== 'gzip' && v !== 'none') throw new Error('--compression takes gzip or none');
      options.compression = v;
    },
    '--request-timeout-ms': (v) => { options.requestTimeoutMs = positive('--request-timeout-ms', v); },
    '--max-body-bytes': (v) => { options.maxBodyBytes = positive('--max-body-bytes', v); },
  };
  for (let i = 0; i < argv.length; i += 2) {
    const set = flags[argv[i]];
    if (!set || argv[i + 1] === undefined) {
      throw new Error(`unknown flag or missing value: ${argv[i]} (flags: ${Object.keys(flags).join(', ')})`);
    }
    set(argv[i + 1]);
  }
  return options;
}

function positive(flag, text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} takes a positive whole number`);
  return n;
}

function loadTunnelService() {
  const definition = protoLoader.loadSync(path.join(PROTOS, 'teleport', 'v1', 'tunnel.proto'), {
    includeDirs: [PROTOS],
    keepCase: true,
    longs: String, // exchange ids are uint64
    enums: String,
    defaults: true,
    oneofs: true, // frame.kind / item.kind name the member that is set
  });
  return grpc.loadPackageDefinition(definition).teleport.v1.Tunnel;
}

// The tunnel: one stream at a time, its pending exchanges by id, and a queue flushed as one batch per turn.
class Tunnel {
  constructor(options) {
    this.options = options;
    const Service = loadTunnelService();
    const target = options.origin.replace(/^https?:\/\//, '');
    this.receiveLimit = options.maxBodyBytes + HEADROOM;
    this.client = new Service(target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': this.receiveLimit,
      'grpc.max_send_message_length': -1,
      // 2 is gzip in grpc-js's numbering (0 identity, 1 deflate); incoming gzip is always accepted.
      'grpc.default_compression_algorithm': options.compression === 'gzip' ? 2 : 0,
    });
    this.nextId = 1;
    this.pending = new Map(); // exchange id (string) -> { answer(item) }
    this.queue = [];
    this.queueBytes = 0;
    this.flushScheduled = false;
    this.call = null;
    this.hello = null; // the origin's hello while the stream is live
    this.waiters = [];
    this.failures = 0;
  }

  start() {
    const call = this.client.Open();
    this.call = call;
    let helloTimer = setTimeout(() => call.cancel(), HELLO_TIMEOUT_MS);
    call.write({ hello: { protocol_version: 1, capabilities: [], max_message_bytes: this.receiveLimit, agent: AGENT, stream_compression: '' } });
    call.on('data', (frame) => {
      if (this.call !== call) return;
      if (!this.hello) {
        clearTimeout(helloTimer);
        helloTimer = null;
        // No capability was listed, so the origin may send nothing but plain batches.
        if (frame.kind !== 'hello' || frame.hello.protocol_version !== 1 || frame.hello.stream_compression !== '') {
          return this.fail(call, `unusable first message from the origin: ${JSON.stringify(frame.kind === 'hello' ? frame.hello : frame.kind)}`);
        }
        this.hello = frame.hello;
        this.failures = 0;
        console.error(`tunnel connected to ${this.options.origin} (${frame.hello.agent || 'unnamed origin'})`);
        for (const wake of this.waiters.splice(0)) wake(true);
        return;
      }
      if (frame.kind !== 'batch') {
        return this.fail(call, `protocol violation: the origin sent ${frame.kind} after its hello`);
      }
      for (const item of frame.batch.items) {
        const exchange = this.pending.get(item.exchange_id);
        // An answer for an exchange this edge no longer waits for (cancelled, timed out) is dropped.
        if (exchange) {
          this.pending.delete(item.exchange_id);
          exchange.answer(item);
        }
      }
    });
    call.on('error', (error) => this.fail(call, `${error.code}: ${error.details || error.message}`));
    call.on('end', () => this.fail(call, 'the origin ended the stream'));
  }

  // Ends the stream's life here: every open exchange fails with 502, then a new stream after a backoff.
  fail(call, reason) {
    if (this.call !== call) return;
    this.call = null;
    this.hello = null;
    this.queue = [];
    this.queueBytes = 0;
    call.cancel();
    console.error(`tunnel lost: ${reason}`);
    const lost = [...this.pending.values()];
    this.pending.clear();
    for (const exchange of lost) exchange.answer(null);
    const delay = Math.min(5_000, 100 * 2 ** this.failures++);
    setTimeout(() => this.start(), delay).unref();
  }

  // Resolves true when a stream is live, false after the wait.
  ready() {
    if (this.hello) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(false);
      }, this.options.tunnelWaitMs);
      const wake = (ok) => { clearTimeout(timer); resolve(ok); };
      this.waiters.push(wake);
    });
  }

  // The largest request body the origin takes, and that fits one message under its limit.
  maxBody() {
    const byOrigin = Number(this.hello.max_request_body_bytes) || Infinity;
    const byMessage = (this.hello.max_message_bytes || GRPC_DEFAULT_MAX) - HEADROOM;
    return Math.min(this.options.maxBodyBytes, byOrigin, byMessage);
  }

  // Opens an exchange: answer(item) gets the origin's item, or null when the stream was lost.
  begin(requestStart, size, answer) {
    if (!this.hello) {
      // The stream was lost while the body was arriving.
      answer(null);
      return null;
    }
    const id = String(this.nextId++);
    this.pending.set(id, { answer });
    this.send({ exchange_id: id, request_start: requestStart }, size);
    return id;
  }

  // Gives up on an exchange and tells the origin to stop working on it.
  cancel(id, reason) {
    if (this.pending.delete(id)) {
      this.send({ exchange_id: id, cancel: { reason } }, 16);
    }
  }

  send(item, size) {
    this.queue.push(item);
    this.queueBytes += size;
    // Under the origin's message limit: a batch that would pass it goes out now, before this item.
    if (this.queueBytes > (this.hello.max_message_bytes || GRPC_DEFAULT_MAX) - HEADROOM && this.queue.length > 1) {
      this.queue.pop();
      this.flush();
      this.queue.push(item);
      this.queueBytes = size;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush() {
    this.flushScheduled = false;
    if (this.queue.length === 0 || !this.call) return;
    this.call.write({ batch: { items: this.queue } });
    this.queue = [];
    this.queueBytes = 0;
  }
}

// Header fields of a message, without hop-by-hop ones and those its Connection field names.
function endToEnd(rawHeaders) {
  const named = new Set();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === 'connection') {
      for (const token of rawHeaders[i + 1].split(',')) named.add(token.trim().toLowerCase());
    }
  }
  const headers = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named.has(name)) headers.push({ name: rawHeaders[i], value: rawHeaders[i + 1] });
  }
  return headers;
}

function sendError(res, status, stage, message) {
  if (res.headersSent || res.destroyed) return;
  const reason = http.STATUS_CODES[status] || 'Error';
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Teleport-Error': stage });
  res.end(`${status} ${reason}: ${message}\n`);
}

function writeAnswer(req, res, item) {
  if (res.destroyed) return;
  if (item === null) return sendError(res, 502, 'tunnel', 'the tunnel to the origin was lost before the response arrived');
  if (item.kind === 'error') {
    const [status, stage] = ERRORS[item.error.code] || [502, 'tunnel'];
    return sendError(res, status, stage, item.error.message);
  }
  const { status, headers, body } = item.response_start;
  const bodiless = req.method === 'HEAD' || status === 204 || status === 304;
  const named = new Set(headers.filter((h) => h.name.toLowerCase() === 'connection')
    .flatMap((h) => h.value.split(',').map((t) => t.trim().toLowerCase())));
  res.statusCode = status;
  for (const { name, value } of headers) {
    const lower = name.toLowerCase();
    // A conforming origin never sends hop-by-hop fields; one that does is not trusted with them.
    // Content-Length is Node's to set from the body, except where there is none to measure.
    if (HOP_BY_HOP.has(lower) || named.has(lower) || (lower === 'content-length' && !bodiless)) continue;
    try {
      res.appendHeader(name, value);
    } catch {
      // A field Node refuses (invalid characters) is dropped rather than failing the response.
    }
  }
  res.end(bodiless ? undefined : body);
}

function handle(tunnel, options, req, res) {
  tunnel.ready().then((live) => {
    if (!live) return sendError(res, 503, 'no-tunnel', `no tunnel to the origin ${options.origin}`);
    const limit = tunnel.maxBody();
    const chunks = [];
    let length = 0;
    let tooLarge = Number(req.headers['content-length'] || 0) > limit;
    if (tooLarge) return sendError(res, 413, 'request-too-large', `the request body is larger than ${limit} bytes`);
    req.on('data', (chunk) => {
      length += chunk.length;
      if (length > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) return sendError(res, 413, 'request-too-large', `the request body is larger than ${limit} bytes`);
      if (res.destroyed) return;
      const headers = endToEnd(req.rawHeaders);
      const body = Buffer.concat(chunks, length);
      const start = {
        method: req.method,
        path_and_query: req.url, // as the client sent it: no decoding, no normalisation
        headers,
        body,
        has_body: req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined,
        timeout_ms: options.requestTimeoutMs,
        protocol: `HTTP/${req.httpVersion}`,
      };
      const size = length + headers.reduce((n, h) => n + h.name.length + h.value.length + 4, 0) + req.url.length + 64;
      // The origin answers 504 itself at timeout_ms; the grace covers its answer's trip back.
      const timer = setTimeout(() => {
        tunnel.cancel(id, 'CANCEL_REASON_DEADLINE');
        sendError(res, 504, 'upstream-timeout', 'the origin did not answer in time');
      }, options.requestTimeoutMs + 2_000);
      const id = tunnel.begin(start, size, (item) => {
        clearTimeout(timer);
        writeAnswer(req, res, item);
      });
      res.on('close', () => {
        if (!res.writableFinished) {
          clearTimeout(timer);
          tunnel.cancel(id, 'CANCEL_REASON_CLIENT_ABORTED');
        }
      });
    });
  });
}

function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`teleport-node-edge: ${error.message}`);
    process.exit(2);
  }
  const tunnel = new Tunnel(options);
  tunnel.start();
  const server = http.createServer((req, res) => handle(tunnel, options, req, res));
  const [host, port] = options.listen.replace(/^http:\/\//, '').split(/:(?=\d+$)/);
  server.listen(Number(port), host, () => console.error(`listening on http://${host}:${server.address().port}, tunnel to ${options.origin}`));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
