#!/usr/bin/env node
// Scriptable MCP client built on the official TypeScript SDK, used by the
// mcp-gateway interop tests. See README.md in this directory.
//
//   node client.mjs --stdio <command> [args...] --scenario basic --spec '<json>'
//   node client.mjs --http <url> [--header 'K: V']... --scenario basic --spec '<json>'
//
// Prints exactly one JSON object on stdout. Diagnostics go to stderr.
// Exit codes: 0 ok, 1 connection/initialize failure, 2 usage error,
// 3 overall deadline (--timeout-ms) exceeded.

import process from "node:process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

const CLIENT_FLAGS = new Set([
  "--stdio",
  "--http",
  "--header",
  "--scenario",
  "--spec",
  "--timeout-ms",
  "--request-timeout-ms",
  "--close-grace-ms",
]);

function usage(msg) {
  if (msg) process.stderr.write(`client.mjs: ${msg}\n`);
  process.stderr.write(
    "usage: node client.mjs (--stdio <command> [args...] | --http <url> [--header 'K: V']...)\n" +
      "                       [--scenario basic] [--spec '<json>'] [--timeout-ms N] [--request-timeout-ms N]\n" +
      "                       [--close-grace-ms N]\n" +
      "  The --stdio command and its args run until the next client flag\n" +
      "  (--http --header --scenario --spec --timeout-ms --request-timeout-ms --close-grace-ms).\n",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    mode: null,
    command: null,
    commandArgs: [],
    url: null,
    headers: {},
    scenario: "basic",
    spec: {},
    timeoutMs: 60000,
    requestTimeoutMs: 20000,
    closeGraceMs: 500,
  };
  let i = 0;
  const need = (flag) => {
    if (i + 1 >= argv.length) usage(`${flag} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case "--stdio": {
        opts.mode = "stdio";
        opts.command = need(a);
        while (i + 1 < argv.length && !CLIENT_FLAGS.has(argv[i + 1])) {
          opts.commandArgs.push(argv[++i]);
        }
        break;
      }
      case "--http":
        opts.mode = "http";
        opts.url = need(a);
        break;
      case "--header": {
        const h = need(a);
        const idx = h.indexOf(":");
        if (idx <= 0) usage(`bad --header ${JSON.stringify(h)} (want 'K: V')`);
        opts.headers[h.slice(0, idx).trim()] = h.slice(idx + 1).trim();
        break;
      }
      case "--scenario":
        opts.scenario = need(a);
        break;
      case "--spec": {
        const s = need(a);
        try {
          opts.spec = s.trim() === "" ? {} : JSON.parse(s);
        } catch (e) {
          usage(`--spec is not valid JSON: ${e.message}`);
        }
        if (opts.spec === null || typeof opts.spec !== "object" || Array.isArray(opts.spec)) {
          usage("--spec must be a JSON object");
        }
        break;
      }
      case "--timeout-ms":
        opts.timeoutMs = Number(need(a));
        break;
      case "--request-timeout-ms":
        opts.requestTimeoutMs = Number(need(a));
        break;
      case "--close-grace-ms":
        opts.closeGraceMs = Number(need(a));
        break;
      default:
        usage(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  if (!opts.mode) usage("one of --stdio or --http is required");
  if (!(opts.timeoutMs > 0) || !(opts.requestTimeoutMs > 0) || !(opts.closeGraceMs >= 0)) {
    usage("timeouts must be positive numbers");
  }
  return opts;
}

// ---------------------------------------------------------------------------
// Helpers

function errorInfo(err) {
  if (err === undefined || err === null) return { code: null, message: String(err) };
  let message = err instanceof Error ? err.message : typeof err === "string" ? err : String(err);
  let code = typeof err.code === "number" ? err.code : null;
  // McpError prefixes "MCP error <code>: "; strip it to keep the server's text.
  const m = /^MCP error (-?\d+): ([\s\S]*)$/.exec(message);
  if (m) {
    if (code === null) code = Number(m[1]);
    message = m[2];
  }
  const out = { code, message };
  if (err && err.data !== undefined) out.data = err.data;
  return out;
}

function firstUserText(messages) {
  for (const msg of messages ?? []) {
    if (msg.role !== "user") continue;
    const parts = Array.isArray(msg.content) ? msg.content : [msg.content];
    for (const p of parts) {
      if (p && p.type === "text" && typeof p.text === "string") return p.text;
    }
  }
  return "";
}

// Plausible value for one property of an elicitation requestedSchema.
function sampleValue(prop) {
  if (!prop || typeof prop !== "object") return "interop";
  if (Array.isArray(prop.enum) && prop.enum.length > 0) return prop.enum[0];
  if (Array.isArray(prop.oneOf) && prop.oneOf.length > 0 && prop.oneOf[0].const !== undefined) {
    return prop.oneOf[0].const;
  }
  if (Array.isArray(prop.anyOf) && prop.anyOf.length > 0 && prop.anyOf[0].const !== undefined) {
    return prop.anyOf[0].const;
  }
  switch (prop.type) {
    case "boolean":
      return true;
    case "number":
    case "integer": {
      let v = 1;
      if (typeof prop.minimum === "number" && v < prop.minimum) v = Math.ceil(prop.minimum);
      if (typeof prop.maximum === "number" && v > prop.maximum) v = Math.floor(prop.maximum);
      return v;
    }
    case "array": {
      const items = prop.items ?? {};
      const v = sampleValue(items);
      return [typeof v === "string" ? v : String(v)];
    }
    default:
      switch (prop.format) {
        case "email":
          return "interop@example.com";
        case "uri":
          return "https://example.com/interop";
        case "date":
          return "2024-01-01";
        case "date-time":
          return "2024-01-01T00:00:00Z";
        default:
          return "interop";
      }
  }
}

function elicitContent(schema) {
  const content = {};
  const props = schema?.properties ?? {};
  for (const key of schema?.required ?? []) {
    content[key] = sampleValue(props[key]);
  }
  return content;
}

async function listAll(fn, key) {
  const items = [];
  const seen = new Set();
  let cursor;
  for (let page = 0; page < 1000; page++) {
    const res = await fn(cursor === undefined ? {} : { cursor });
    items.push(...(res[key] ?? []));
    cursor = res.nextCursor;
    if (cursor === undefined || cursor === null || cursor === "" || seen.has(cursor)) break;
    seen.add(cursor);
  }
  return items;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.scenario !== "basic") usage(`unknown scenario ${JSON.stringify(opts.scenario)}`);
  const spec = opts.spec;

  const out = {
    serverInfo: null,
    protocolVersion: null,
    capabilities: null,
    tools: [],
    resources: [],
    resourceTemplates: [],
    prompts: [],
    calls: [],
    reads: [],
    prompts_got: [],
    serverRequests: [],
    notifications: [],
    logMessages: [],
    resourceUpdates: [],
  };

  let transport;
  if (opts.mode === "stdio") {
    const env = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (typeof v === "string" && !v.startsWith("()")) env[k] = v;
    }
    transport = new StdioClientTransport({
      command: opts.command,
      args: opts.commandArgs,
      env,
      stderr: "inherit",
    });
  } else {
    let url;
    try {
      url = new URL(opts.url);
    } catch (e) {
      usage(`bad --http url: ${e.message}`);
    }
    transport = new StreamableHTTPClientTransport(url, {
      requestInit: { headers: opts.headers },
    });
  }

  // Observe every raw message from the server. Protocol.connect() chains to an
  // onmessage installed before connect, so this sees everything, including the
  // progress notifications the SDK consumes internally.
  let initializeSeen = false;
  let closing = false;
  // Track the progressToken of the tools/call in flight (calls run one at a
  // time) so progress is counted from the raw stream: the SDK dispatches
  // notifications asynchronously and drops a progress notification that is
  // processed after its response, even when it arrived first on the wire.
  let progressCall = null; // { token, count }
  const origSend = transport.send.bind(transport);
  transport.send = (msg, sendOpts) => {
    const token = msg?.params?._meta?.progressToken;
    if (progressCall && msg?.method === "tools/call" && token !== undefined) progressCall.token = token;
    return origSend(msg, sendOpts);
  };

  transport.onmessage = (msg) => {
    // Once shutdown starts, nothing more is handled; do not record it.
    if (closing || !msg || typeof msg !== "object") return;
    const isRequest = "method" in msg && "id" in msg;
    const isNotification = "method" in msg && !("id" in msg);
    if (isRequest) {
      out.serverRequests.push(msg.method);
    } else if (isNotification) {
      out.notifications.push(msg.method);
      if (msg.method === "notifications/message") {
        const p = msg.params ?? {};
        out.logMessages.push({ level: p.level, logger: p.logger, data: p.data });
      } else if (msg.method === "notifications/progress") {
        if (progressCall && progressCall.token !== undefined && msg.params?.progressToken === progressCall.token) {
          progressCall.count++;
        }
      } else if (msg.method === "notifications/resources/updated") {
        out.resourceUpdates.push(msg.params?.uri);
      }
    } else if (!initializeSeen && msg.result && typeof msg.result.protocolVersion === "string") {
      initializeSeen = true;
      out.protocolVersion = msg.result.protocolVersion;
    }
  };

  const client = new Client(
    { name: "mcp-gateway-interop-client", version: "1.0.0" },
    {
      capabilities: {
        sampling: {},
        elicitation: { form: {}, url: {} },
        roots: { listChanged: true },
      },
    },
  );
  client.onerror = (err) => {
    if (closing) return;
    process.stderr.write(`client.mjs: transport/protocol error: ${err?.message ?? err}\n`);
  };

  client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
    role: "assistant",
    content: { type: "text", text: "sampled: " + firstUserText(req.params.messages) },
    model: "interop-model",
    stopReason: "endTurn",
  }));
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    if (req.params.mode === "url") return { action: "accept" };
    return { action: "accept", content: elicitContent(req.params.requestedSchema) };
  });
  const roots = Array.isArray(spec.roots) ? spec.roots : [{ uri: "file:///tmp/interop-root", name: "interop" }];
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots }));

  // The stdio child, captured once spawned: Client.connect() starts closing the
  // transport itself on initialize failure, after which transport.pid is gone.
  let child = null;
  if (transport instanceof StdioClientTransport) {
    const origStart = transport.start.bind(transport);
    transport.start = async () => {
      await origStart();
      child = transport._process ?? null;
    };
  }
  const childAlive = () => child !== null && child.exitCode === null && child.signalCode === null;
  const childExited = (ms) =>
    Promise.race([
      new Promise((resolve) => {
        if (!childAlive()) resolve();
        else child.once("exit", resolve);
      }),
      sleep(ms),
    ]);

  const shutdown = async () => {
    if (closing) return;
    closing = true;
    if (transport instanceof StreamableHTTPClientTransport && transport.sessionId) {
      try {
        await Promise.race([transport.terminateSession(), sleep(2000)]);
      } catch {
        // ignore: server may not support DELETE
      }
    }
    // For stdio, close() ends the child's stdin. Give the child
    // --close-grace-ms to exit on its own, then SIGTERM, then SIGKILL.
    const closeP = client.close().catch(() => {});
    if (child) {
      await childExited(opts.closeGraceMs);
      if (childAlive()) child.kill("SIGTERM");
      await childExited(2000);
      if (childAlive()) child.kill("SIGKILL");
      await childExited(1000);
    }
    await Promise.race([closeP, sleep(1000)]);
  };

  let deadlineHit = false;
  const watchdog = setTimeout(async () => {
    deadlineHit = true;
    process.stderr.write(`client.mjs: overall deadline of ${opts.timeoutMs}ms exceeded\n`);
    await shutdown();
    process.exit(3);
  }, opts.timeoutMs);
  // Not unref()d: every path ends in process.exit(), and a hang with no other
  // pending handle must still end in exit 3 rather than a silent exit 0.

  const reqOpts = (extra = {}) => ({ timeout: opts.requestTimeoutMs, ...extra });

  try {
    await client.connect(transport, reqOpts());
  } catch (err) {
    if (deadlineHit) return; // the watchdog is shutting down and exits with code 3
    process.stderr.write(`client.mjs: connect failed: ${errorInfo(err).message}\n`);
    await shutdown();
    process.exit(1);
  }

  out.serverInfo = client.getServerVersion() ?? null;
  out.capabilities = client.getServerCapabilities() ?? null;
  if (!out.protocolVersion && transport.protocolVersion) out.protocolVersion = transport.protocolVersion;
  const caps = out.capabilities ?? {};
  const listErrors = {};

  try {
    if (caps.tools) {
      try {
        out.tools = (await listAll((p) => client.listTools(p, reqOpts()), "tools")).map((t) => t.name);
      } catch (e) {
        listErrors.tools = errorInfo(e);
      }
    }
    if (caps.resources) {
      try {
        out.resources = (await listAll((p) => client.listResources(p, reqOpts()), "resources")).map((r) => r.uri);
      } catch (e) {
        listErrors.resources = errorInfo(e);
      }
      try {
        out.resourceTemplates = (
          await listAll((p) => client.listResourceTemplates(p, reqOpts()), "resourceTemplates")
        ).map((r) => r.uriTemplate);
      } catch (e) {
        listErrors.resourceTemplates = errorInfo(e);
      }
    }
    if (caps.prompts) {
      try {
        out.prompts = (await listAll((p) => client.listPrompts(p, reqOpts()), "prompts")).map((p) => p.name);
      } catch (e) {
        listErrors.prompts = errorInfo(e);
      }
    }
    if (Object.keys(listErrors).length > 0) out.listErrors = listErrors;

    if (spec.setLogLevel !== undefined) {
      try {
        await client.setLoggingLevel(spec.setLogLevel, reqOpts());
        out.setLogLevel = { level: spec.setLogLevel, ok: true };
      } catch (e) {
        out.setLogLevel = { level: spec.setLogLevel, error: errorInfo(e) };
      }
    }

    if (Array.isArray(spec.subscribe)) {
      out.subscriptions = [];
      for (const uri of spec.subscribe) {
        try {
          await client.subscribeResource({ uri }, reqOpts());
          out.subscriptions.push({ uri, ok: true });
        } catch (e) {
          out.subscriptions.push({ uri, error: errorInfo(e) });
        }
      }
    }

    for (const c of spec.call ?? []) {
      const entry = { name: c.name };
      const extra = {};
      if (c.progress) {
        progressCall = { token: undefined, count: 0 };
        extra.onprogress = () => {};
      }
      if (typeof c.timeoutMs === "number") extra.timeout = c.timeoutMs;
      let timer;
      if (typeof c.cancelAfterMs === "number") {
        const ac = new AbortController();
        extra.signal = ac.signal;
        timer = setTimeout(() => ac.abort(`cancelled by client after ${c.cancelAfterMs}ms`), c.cancelAfterMs);
      }
      try {
        entry.result = await client.callTool({ name: c.name, arguments: c.arguments ?? {} }, undefined, reqOpts(extra));
      } catch (e) {
        entry.error = errorInfo(e);
        if (extra.signal?.aborted) entry.cancelled = true;
      } finally {
        if (timer) clearTimeout(timer);
      }
      if (c.progress) {
        entry.progressCount = progressCall.count;
        progressCall = null;
      }
      out.calls.push(entry);
    }

    for (const uri of spec.read ?? []) {
      try {
        out.reads.push({ uri, result: await client.readResource({ uri }, reqOpts()) });
      } catch (e) {
        out.reads.push({ uri, error: errorInfo(e) });
      }
    }

    for (const p of spec.prompt ?? []) {
      try {
        const params = { name: p.name };
        if (p.arguments !== undefined) params.arguments = p.arguments;
        out.prompts_got.push({ name: p.name, result: await client.getPrompt(params, reqOpts()) });
      } catch (e) {
        out.prompts_got.push({ name: p.name, error: errorInfo(e) });
      }
    }

    if (Array.isArray(spec.complete)) {
      out.completions = [];
      for (const c of spec.complete) {
        const params = { ref: c.ref, argument: c.argument };
        if (c.context !== undefined) params.context = c.context;
        try {
          out.completions.push({ ref: c.ref, argument: c.argument, result: await client.complete(params, reqOpts()) });
        } catch (e) {
          out.completions.push({ ref: c.ref, argument: c.argument, error: errorInfo(e) });
        }
      }
    }

    // Optionally linger to collect asynchronous server requests/notifications.
    if (typeof spec.waitMs === "number" && spec.waitMs > 0) await sleep(spec.waitMs);
  } finally {
    await shutdown();
  }

  clearTimeout(watchdog);
  if (deadlineHit) return; // the watchdog exits with code 3 and prints nothing on stdout
  // Exit explicitly once stdout is flushed, so stray handles (e.g. a child that
  // ignores SIGTERM) cannot keep us alive.
  process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`client.mjs: fatal: ${err?.stack ?? err}\n`);
  process.exit(1);
});
