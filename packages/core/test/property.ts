/**
 * Shared pieces of the core property tests: how a property is run under tap (a failure prints
 * fast-check's report: seed, path and the shrunk counterexample), and arbitraries for what a
 * hostile client may put in a Cookie header or a request target.
 */
import fc from 'fast-check'
import type { Test } from 'tap'

/**
 * Runs `property` with a fixed seed (the same inputs on every run, so CI is reproducible; set
 * STICKYROUTE_FC_SEED to explore others) and reports the result on `t`.
 */
export function holds<Ts> (t: Test, name: string, property: fc.IProperty<Ts>, numRuns: number): void {
  const out = fc.check(property, { numRuns, seed: seed() })
  t.ok(!out.failed, out.failed ? `${name}\n${fc.defaultReportMessage(out) ?? ''}` : name)
}

/** The async variant, for properties that talk to servers. */
export async function holdsAsync<Ts> (t: Test, name: string, property: fc.IAsyncProperty<Ts>, numRuns: number): Promise<void> {
  const out = await fc.check(property, { numRuns, seed: seed() })
  t.ok(!out.failed, out.failed ? `${name}\n${fc.defaultReportMessage(out) ?? ''}` : name)
}

function seed (): number {
  const env = process.env['STICKYROUTE_FC_SEED']
  return env === undefined || env === '' ? 20260601 : Number(env)
}

/** Route names a member set is made of: valid cookie octets, some containing the separator. */
export const ROUTE_POOL = ['r1', 'r2', 'r3', 'node1', 'a.b', 'x', 'R1', '%00', '=x', 'tomcat_instance_2'] as const

/** Pieces that matter to the parsers, mixed with hostile bytes, so that names and boundaries collide often. */
const COOKIE_PIECES = [
  'ROUTEID', 'ROUTEID=', 'ROUTEID =', 'routeid=', 'XROUTEID=', 'ROUTEIDX=', 'JSESSIONID=', 'jsessionid=',
  ';', '; ', ';;;;', ',', ' ', '\t', '=', '.', '..', '"', '%00', '\u0000', '\u00e9', '\u00ff', '\u20ac', '\ud83d\ude00',
  ...ROUTE_POOL, ...ROUTE_POOL.map(r => `.${r}`), ...ROUTE_POOL.map(r => `abc.${r}`)
]

const piece = (pieces: readonly string[]): fc.Arbitrary<string> => fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...pieces) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 5000 }).map(n => 'x'.repeat(n)) }
)

/** A Cookie header: realistic pairs, hostile bytes and separators. */
export const cookieHeader: fc.Arbitrary<string> = fc.array(piece(COOKIE_PIECES), { maxLength: 14 }).map(p => p.join(''))

/** A Cookie header, several header lines, or none. */
export const cookieInput: fc.Arbitrary<string | string[] | undefined> = fc.oneof(
  { weight: 4, arbitrary: cookieHeader },
  { weight: 1, arbitrary: fc.array(cookieHeader, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.constant(undefined) }
)

const URL_PIECES = [
  '/', '/app', ';', '?', '&', '#', '=', '.', '%00', '%3B', '%26', 'x=1', 'jsessionid', 'jsessionid=', ';jsessionid=',
  '?jsessionid=', '&jsessionid=', 'JSESSIONID=', 'ROUTEID=', ';ROUTEID=', '?ROUTEID=', 'xjsessionid=', '\u00e9',
  ...ROUTE_POOL, ...ROUTE_POOL.map(r => `.${r}`), ...ROUTE_POOL.map(r => `ABC.${r}`)
]

/** A request target: a path, then anything the pieces make, session parameters in odd places included. */
export const urlInput: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.array(piece(URL_PIECES), { maxLength: 12 }).map(p => `/${p.join('')}`) },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: fc.constant(undefined) }
)

/** Session sources: the two Apache methods, and a few names that collide with the pieces. */
export const sessionSource = fc.constantFrom(
  { cookie: 'ROUTEID', urlParam: 'ROUTEID' as string | undefined },
  { cookie: 'JSESSIONID', urlParam: 'jsessionid' as string | undefined },
  { cookie: 'ROUTEID', urlParam: undefined as string | undefined },
  { cookie: 'JSESSIONID', urlParam: 'JSESSIONID' as string | undefined }
)

/** The separator: Apache's '.', another character, or off (any string works for the parsers). */
export const separator = fc.constantFrom<string | undefined>('.', '.', '~', '=', '..', undefined)

/** The separators `routeSeparator` accepts (or off). */
export const configSeparator = fc.constantFrom<string | false>('.', '.', '~', '-', false)
