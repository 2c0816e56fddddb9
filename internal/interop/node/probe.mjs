// probe.mjs HOST PORT CA [CERT KEY]
// A raw TLS handshake (node:tls), with or without a client certificate.
// Prints {"ok":true} if the server accepted the connection, or the error
// (under TLS 1.3 a refused client certificate arrives as an alert after the
// client's handshake, on the first read).
import { readFileSync } from "node:fs";
import tls from "node:tls";

const [host, port, ca, cert, key] = process.argv.slice(2);
const opts = { host, port: Number(port), ca: readFileSync(ca), servername: "localhost", minVersion: "TLSv1.3" };
if (cert) Object.assign(opts, { cert: readFileSync(cert), key: readFileSync(key) });
const done = (v) => { console.log(JSON.stringify(v)); process.exit(0); };
const s = tls.connect(opts, () => {
  s.write("GET /mcp HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
});
s.on("data", () => done({ ok: true }));
s.on("error", (e) => done({ ok: false, code: e.code ?? null, message: e.message }));
s.on("end", () => done({ ok: false, code: "END", message: "closed" }));
setTimeout(() => done({ ok: false, code: "TIMEOUT", message: "no answer" }), 5000);
