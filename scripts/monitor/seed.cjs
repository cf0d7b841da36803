// node seed.cjs <port> <count>: POST /jobs count times, 16 in flight, keep-alive.
const http = require('http');
const [port, count] = [Number(process.argv[2]), Number(process.argv[3])];
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const body = JSON.stringify({ prompt: 'Summarise the benchmark in one sentence.', maxTokens: 64 });
let sent = 0, done = 0, bad = 0;
function one() {
  if (sent >= count) return;
  sent++;
  const req = http.request({ port, host: '127.0.0.1', path: '/jobs', method: 'POST', agent,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, res => {
    if (res.statusCode !== 202) bad++;
    res.resume(); res.on('end', () => { done++; if (done === count) { console.log(`seeded ${count}, non-202 ${bad}`); process.exit(0); } one(); });
  });
  req.on('error', e => { console.error(e.message); process.exit(1); });
  req.end(body);
}
for (let i = 0; i < 16; i++) one();
