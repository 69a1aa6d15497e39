// Compile Solidity standard-JSON from stdin with the solc-js module given as argv[2].
const solc = require(process.argv[2]);
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", () => {
  if (process.argv[3] === "--version") { process.stdout.write(solc.version()); return; }
  process.stdout.write(solc.compile(input));
});
