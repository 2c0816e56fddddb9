// client.mjs URL CA CERT KEY [SESSION_TOKEN]
// Connects to a guarded endpoint with the official TypeScript MCP SDK over
// Streamable HTTP with a client certificate (undici Agent as the fetch
// dispatcher), lists tools and calls them. Prints one JSON report.
import { readFileSync } from "node:fs";
import { Agent, fetch as undiciFetch } from "undici";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, ca, cert, key, token] = process.argv.slice(2);
const agent = new Agent({ connect: { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) } });
const fetchWithCert = (input, init = {}) => {
  const headers = new Headers(init.headers);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  return undiciFetch(input, { ...init, headers, dispatcher: agent });
};
const client = new Client({ name: "ts-interop", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: fetchWithCert });
const report = { protocol: null, tools: [], calls: {} };
await client.connect(transport);
report.protocol = transport.protocolVersion ?? null;
report.tools = (await client.listTools()).tools.map((t) => t.name).sort();
const call = async (name, args) => {
  try {
    const res = await client.callTool({ name, arguments: args });
    report.calls[name + ":" + JSON.stringify(args)] = {
      text: res.content.map((c) => c.text ?? "").join("\n"),
      findings: res._meta?.["dev.mcpguard/findings"] ?? null,
      isError: res.isError ?? false,
    };
  } catch (e) {
    report.calls[name + ":" + JSON.stringify(args)] = { error: { code: e.code ?? null, message: String(e.message) } };
  }
};
for (const [name, args] of JSON.parse(process.env.CALLS ?? "[]")) await call(name, args);
await client.close();
console.log(JSON.stringify(report));
