/**
 * A member whose host drops connection attempts (a powered-off machine, a firewall dropping
 * SYNs): a listening socket with a full backlog that never accepts, so a connect() to it neither
 * succeeds nor is refused. Node always accepts, so a tiny python3 process holds the socket.
 */
import { spawn } from 'node:child_process'

const SCRIPT = `
import socket, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
fill = []
for i in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(s.getsockname())
    except BlockingIOError: pass
    fill.append(c)
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`

export interface Blackhole { url: string, close: () => void }

export async function startBlackhole (): Promise<Blackhole> {
  const child = spawn('python3', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] })
  const port = await new Promise<string>((resolve, reject) => {
    child.once('error', reject)
    child.stdout.once('data', (d: Buffer) => resolve(String(d).trim()))
  })
  return { url: `http://127.0.0.1:${port}`, close: () => { child.kill() } }
}
