import { ServerError } from '../errors.js'

/**
 * Slots for following uploads in progress (`GET /items/:id/live`): each follower holds an open
 * file and a connection for as long as the upload runs, so they are bounded per server and per
 * account. One account filling the server's slots would otherwise push every other account's
 * receivers back to waiting for the commit.
 */
export class LiveSlots {
  private total = 0
  private readonly byAccount = new Map<string, number>()

  constructor(
    private readonly perServer: number,
    private readonly perAccount: number,
  ) {}

  /**
   * Takes a slot for `accountId`; returns the function that gives it back (call it once).
   * `RATE_LIMITED` when the server or the account has none left; the client waits for the commit.
   */
  take(accountId: string): () => void {
    const mine = this.byAccount.get(accountId) ?? 0
    if (mine >= this.perAccount) {
      throw new ServerError(
        'RATE_LIMITED',
        'this account follows too many uploads at once; wait for the commit',
      )
    }
    if (this.total >= this.perServer) {
      throw new ServerError('RATE_LIMITED', 'too many uploads are being followed; wait for the commit')
    }
    this.total++
    this.byAccount.set(accountId, mine + 1)
    let given = false
    return () => {
      if (given) return
      given = true
      this.total--
      const left = (this.byAccount.get(accountId) ?? 1) - 1
      if (left === 0) this.byAccount.delete(accountId)
      else this.byAccount.set(accountId, left)
    }
  }
}
