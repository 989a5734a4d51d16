import type autocannon from 'autocannon'
import { PASSWORD } from './seed.js'

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
export const form = (params: Record<string, string>) => new URLSearchParams(params).toString()

/** Password grant requests for the seeded users, each naming the user `nextUsername` gives. */
export function passwordRequest (
  nextUsername: () => string, clientId: string
): autocannon.Request {
  return {
    method: 'POST',
    path: '/token',
    headers: FORM,
    setupRequest: (request) => {
      request.body = form({
        grant_type: 'password', client_id: clientId, username: nextUsername(), password: PASSWORD
      })
      return request
    }
  }
}

/**
 * Refresh requests, each with a token never presented before: a request takes the oldest live
 * token from a shared queue, and its answer puts the new one back. Rotation spends a token and
 * a second use would revoke its family, so nothing is ever replayed; a run ends with at most one
 * token per connection in flight, lost, which the seeded spares cover.
 */
export function refreshRequest (queue: string[], clientId: string): autocannon.Request {
  return {
    method: 'POST',
    path: '/token',
    headers: FORM,
    setupRequest: (request) => {
      const token = queue.shift()
      if (token === undefined) throw new Error('the refresh token queue ran dry')
      request.body = form({
        grant_type: 'refresh_token', client_id: clientId, refresh_token: token
      })
      return request
    },
    onResponse: (status, body) => {
      if (status === 200) queue.push((JSON.parse(body) as { refresh_token: string }).refresh_token)
    }
  }
}
