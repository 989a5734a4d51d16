import t from 'tap'
import { LogThrottle, throttleOf } from '../../src/log-throttle.js'

t.test('a repeated line passes once per interval, saying how many were held back', async (t) => {
  const throttle = new LogThrottle(10_000)
  t.equal(throttle.pass(1_000), 0, 'the first passes')
  t.equal(throttle.pass(2_000), undefined)
  t.equal(throttle.pass(10_999), undefined)
  t.equal(throttle.pass(11_000), 2, 'the next after the interval, with the count')
  t.equal(throttle.pass(30_000), 0, 'and the count starts again')
})

t.test('each owner has its own throttle', async (t) => {
  const one = {}
  t.equal(throttleOf(one), throttleOf(one))
  t.not(throttleOf(one), throttleOf({}))
})
