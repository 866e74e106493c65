/**
 * A throwaway self-signed certificate for HTTPS gateways in tests (made with openssl).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function selfSignedCertificate (): { key: string, cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'stickyroute-tls-'))
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** GET over HTTPS, trusting the self-signed certificate; returns status and Set-Cookie lines. */
export async function httpsGet (origin: string, path: string): Promise<{ status: number, setCookie: string[] }> {
  const { request } = await import('node:https')
  return await new Promise((resolve, reject) => {
    const r = request(origin + path, { rejectUnauthorized: false, agent: false }, res => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, setCookie: res.headers['set-cookie'] ?? [] }))
    })
    r.on('error', reject)
    r.end()
  })
}
