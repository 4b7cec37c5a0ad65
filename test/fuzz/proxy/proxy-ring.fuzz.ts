// Fuzz target proxy-ring: the proxy's whole request path (ring indices,
// record headers, every op's decoding and ownership checks, arena
// references, answers) driven in-process by a hostile guest, single-threaded
// and deterministic, against the checking driver of oracle-driver.ts, with a
// well-behaved bystander guest beside it.  See harness.ts.
//
//   tools/fuzz-node.sh node_modules/@jazzer.js/core/dist/cli.js dist/test/fuzz/proxy/proxy-ring.fuzz.js \
//     --sync -i dist/proxy/ -- -max_total_time=60 -timeout=1 /tmp/corpus-proxy-ring test/fuzz/corpus/proxy-ring
import { printBystander, runInput } from './harness.js';

process.on('exit', printBystander);

export function fuzz(data: Buffer): void {
  runInput(data);
}
