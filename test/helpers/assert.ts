/**
 * Readable cookie assertions (in the style of express-session's `shouldSetCookie`).
 */
import type { Test } from 'tap'
import type { ClientResponse } from './client.js'

/** The default attributes stickyroute writes on the balancer cookie over plain HTTP. */
export const DEFAULT_ATTRIBUTES = '; Path=/; HttpOnly; SameSite=Lax'

/** The response carries exactly one balancer cookie, `NAME=.<route>` with the default attributes, after every other Set-Cookie. */
export function shouldSetRouteCookie (t: Test, res: ClientResponse, route: string, name = 'ROUTEID'): void {
  const mine = res.setCookie.filter(c => c.startsWith(`${name}=`))
  t.same(mine, [`${name}=.${route}${DEFAULT_ATTRIBUTES}`], `Set-Cookie ${name}=.${route}`)
  t.equal(res.setCookie.at(-1), `${name}=.${route}${DEFAULT_ATTRIBUTES}`, 'the balancer cookie comes last')
}

/** The response carries no balancer cookie (other cookies may be there). */
export function shouldNotSetRouteCookie (t: Test, res: ClientResponse, name = 'ROUTEID'): void {
  t.same(res.setCookie.filter(c => c.startsWith(`${name}=`)), [], `no ${name} cookie`)
}
