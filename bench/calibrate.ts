/**
 * A fixed piece of CPU work (allocation, property access, string building), timed: how fast the
 * core is at this moment. The machine is a VM whose cores slow down when neighbours are busy
 * (without any steal time showing in /proc/stat), so the bench times this between runs on the
 * proxy core and reports how much it moved.
 */

function work (): number {
  let total = 0
  const items: Array<{ i: number, s: string }> = []
  for (let i = 0; i < 50_000; i++) {
    items.push({ i, s: `k${i & 1023}` })
    if (items.length > 1000) items.length = 0
    total += items.length
  }
  return total
}

let sink = 0

/** Milliseconds the fixed work takes now: the median of `rounds` timings (about 2 ms each). */
export function calibrate (rounds = 15): number {
  const times: number[] = []
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    sink += work()
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  if (sink === -1) console.log(sink)
  times.sort((a, b) => a - b)
  return times[times.length >> 1] as number
}
