// hot.js: one hot JavaScript function, for symbolizing JIT code through Node's perf map.
//   node --perf-basic-prof hot.js [SECONDS]      prints "ready <pid>"
'use strict';
function hotFunction(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003;
  return x;
}
const end = Date.now() + 1000 * Number(process.argv[2] || 5);
console.log('ready ' + process.pid);
let sink = 0;
while (Date.now() < end) sink += hotFunction(100000);
console.log('done ' + sink);
