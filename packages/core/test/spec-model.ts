/**
 * A reference model of shared/spec/apache-behaviour.md ("Reading the route", "Choosing a member",
 * "Method 2 cookie") and of README.md "Where we differ from Apache", written from the words of
 * those two documents and not from src/. It is deliberately naive (split, indexOf, arrays, no
 * performance concerns): the property tests check that the real code, which is written for
 * speed, agrees with it.
 */

export interface ModelSession {
  source: 'url' | 'cookie'
  value: string
  route: string | undefined
}

/** C `isspace`, as Apache's `get_cookie_param` uses: a name preceded by white space counts. */
const WHITE = [' ', '\t', '\n', '\v', '\f', '\r']

/**
 * The first cookie of that name that starts the header or follows ';', ',' or white space;
 * case-sensitive; white space may stand between the name and '='; an '=' that ends the header
 * carries nothing and is passed over; the value ends at ';' or ','. Several header lines read as
 * one, joined with "; " (what Node does with repeated Cookie lines).
 */
export function modelCookie (header: string | readonly string[] | undefined, name: string): string | undefined {
  if (header === undefined || name === '') return undefined
  const h = typeof header === 'string' ? header : header.join('; ')
  for (let at = h.indexOf(name); at !== -1; at = h.indexOf(name, at + 1)) {
    const before = at === 0 ? ';' : h.charAt(at - 1)
    if (before !== ';' && before !== ',' && !WHITE.includes(before)) continue
    let rest = h.slice(at + name.length)
    while (rest !== '' && WHITE.includes(rest.charAt(0))) rest = rest.slice(1)
    if (!rest.startsWith('=') || rest === '=') continue
    return rest.slice(1).split(';')[0]?.split(',')[0]
  }
  return undefined
}

/**
 * A URL parameter: nothing after '#' counts; a parameter is what follows ';', '?' or '&' up to
 * the next of those; `name=value` with a non-empty value counts, the first one wins; an empty
 * value is skipped (the cookie then decides).
 */
export function modelUrl (url: string, name: string): string | undefined {
  if (name === '') return undefined
  const beforeFragment = url.split('#')[0] ?? ''
  // The first piece stands before any ';', '?' or '&': it is no parameter.
  const params = beforeFragment.split(/[;?&]/).slice(1)
  for (const p of params) {
    if (p.startsWith(`${name}=`) && p.length > name.length + 1) return p.slice(name.length + 1)
  }
  return undefined
}

/** The text after the first separator; the whole value when the separator is off; '' is no route. */
export function modelRoute (value: string, separator: string | undefined): string | undefined {
  if (separator === undefined) return value === '' ? undefined : value
  const [, ...after] = value.split(separator)
  if (after.length === 0) return undefined
  const route = after.join(separator)
  return route === '' ? undefined : route
}

/** The URL is read first and wins (even when its value has no route); then the cookie. */
export function modelSession (cookie: string | readonly string[] | undefined, url: string | undefined,
  cookieName: string, urlParam: string | undefined, separator: string | undefined): ModelSession | undefined {
  if (urlParam !== undefined && url !== undefined) {
    const value = modelUrl(url, urlParam)
    if (value !== undefined) return { source: 'url', value, route: modelRoute(value, separator) }
  }
  const value = modelCookie(cookie, cookieName)
  if (value !== undefined) return { source: 'cookie', value, route: modelRoute(value, separator) }
  return undefined
}

/** A member as the model sees it. */
export interface ModelMember {
  route: string
  loadFactor: number
}

export type ModelChoice =
  | { ok: true, index: number, routeChanged: boolean }
  | { ok: false, reason: 'no-member' | 'max-attempts' | 'nofailover' }

/**
 * The balancer, from the spec's "Choosing a member" and "Failures": a route naming a usable
 * member goes to the first usable one in config order (a sticky hit: every usable member gains
 * its weight, the chosen one pays the total); otherwise byrequests picks among the usable ones
 * (gain the weight, highest score wins, earlier on ties, the winner pays the total). A route that
 * names only unusable members gets 503 with noFailover. A failed member is skipped for `retry`
 * seconds. When every member is in error they are all put back (forcerecovery). Failover inside
 * a request skips what that request tried, at most maxAttempts times.
 */
export class ModelBalancer {
  readonly members: readonly ModelMember[]
  readonly score: number[]
  readonly errorSince: Array<number | undefined>
  readonly retryMs: number
  readonly noFailover: boolean
  readonly forceRecovery: boolean
  readonly maxAttempts: number

  constructor (members: readonly ModelMember[], o: { retrySeconds: number, noFailover: boolean, forceRecovery: boolean, maxAttempts?: number }) {
    this.members = members
    this.score = members.map(() => 0)
    this.errorSince = members.map(() => undefined)
    this.retryMs = o.retrySeconds * 1000
    this.noFailover = o.noFailover
    this.forceRecovery = o.forceRecovery
    this.maxAttempts = o.maxAttempts ?? members.length - 1
  }

  /** Apache keeps `loadfactor * 100` as an integer weight. */
  weight (i: number): number {
    return Math.round((this.members[i] as ModelMember).loadFactor * 100)
  }

  usable (i: number, now: number): boolean {
    const since = this.errorSince[i]
    if (since === undefined) return true
    if (now - since > this.retryMs) {
      this.errorSince[i] = undefined
      return true
    }
    return false
  }

  choose (route: string | undefined, now: number, tried: readonly number[] = []): ModelChoice {
    const all = this.members.map((_, i) => i)
    if (this.forceRecovery && all.every(i => !this.usable(i, now))) this.errorSince.fill(undefined)
    const usable = all.filter(i => this.usable(i, now))
    const named = all.filter(i => this.members[i]?.route === route)
    const sticky = named.find(i => !tried.includes(i) && usable.includes(i))
    if (sticky !== undefined) {
      let total = 0
      for (const i of usable) {
        this.score[i] = (this.score[i] as number) + this.weight(i)
        total += this.weight(i)
      }
      this.score[sticky] = (this.score[sticky] as number) - total
      return { ok: true, index: sticky, routeChanged: false }
    }
    if (named.length > 0 && this.noFailover) return { ok: false, reason: 'nofailover' }
    const candidates = usable.filter(i => !tried.includes(i))
    if (candidates.length === 0) return { ok: false, reason: 'no-member' }
    let total = 0
    let best = -1
    for (const i of candidates) {
      this.score[i] = (this.score[i] as number) + this.weight(i)
      total += this.weight(i)
      if (best === -1 || (this.score[i] as number) > (this.score[best] as number)) best = i
    }
    this.score[best] = (this.score[best] as number) - total
    return { ok: true, index: best, routeChanged: this.members[best]?.route !== route }
  }

  fail (i: number, now: number): void {
    this.errorSince[i] = now
  }
}

/** The balancer cookie the spec prescribes: `NAME=<separator><route>` plus the default attributes (Secure over HTTPS). */
export function modelSetCookie (name: string, separator: string | undefined, route: string, secure: boolean): string {
  return `${name}=${separator ?? ''}${route}; Path=/; HttpOnly${secure ? '; Secure' : ''}; SameSite=Lax`
}
