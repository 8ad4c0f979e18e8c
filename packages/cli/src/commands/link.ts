import { deviceFingerprint, generateDevice } from '@airlock/core'
import { ApiClient } from '../client.js'
import { assertNotSetUp, serverOrigin } from '../config.js'
import type { Context } from '../context.js'
import { checkDeviceName, completeEnrollment, defaultDeviceName } from '../enrollment.js'
import { offerLink } from '../linking.js'
import { formatTime } from '../output.js'
import { confirm } from '../prompt.js'

/**
 * `airlock link <server-url>` on a new device: shows a QR code and a short code, and waits until
 * an existing device (`airlock devices approve`, or the web app) approves it.
 */
export async function link(ctx: Context, serverUrl: string, opts: { name?: string }): Promise<void> {
  const { home, out } = ctx
  const origin = serverOrigin(serverUrl)
  await assertNotSetUp(home)
  const name = checkDeviceName(opts.name ?? defaultDeviceName())
  const device = await generateDevice({ name, kind: 'cli' })
  const client = new ApiClient(origin)

  const approved = await offerLink(
    client,
    device,
    async ({ code, link, expiresAt }) => {
      if (out.json) {
        out.result({ event: 'code', code, link, expiresAt }, [])
        return
      }
      // Loaded here: only `link` draws QR codes.
      const { default: QRCode } = await import('qrcode')
      const qr = await QRCode.toString(link, { type: 'terminal', small: true, errorCorrectionLevel: 'L' })
      out.result(null, [
        qr,
        `Linking "${name}" to an Airlock account on ${origin}.`,
        'Scan the QR code with a device that is already set up, or run `airlock devices approve`',
        'there and type this code:',
        '',
        `    ${code}`,
        '',
        `Waiting for the other device (the code expires at ${formatTime(expiresAt)})...`,
      ])
    },
    async (fingerprint) => {
      out.result({ event: 'fingerprint', fingerprint }, [
        `Confirmation code: ${fingerprint}`,
        'Approve on the other device only if it shows exactly the same confirmation code.',
      ])
      // At a terminal the person confirms here first, so a device that joined with a seen code
      // cannot enroll this one into another account; scripts (no terminal) go on.
      if (!process.stdin.isTTY) return undefined
      return confirm('Does the other device show exactly this confirmation code?')
    },
  )
  const config = await completeEnrollment(home, client, device, approved.accountId, {
    seq: approved.seq,
    head: approved.head,
  })
  out.result(
    {
      event: 'linked',
      accountId: config.accountId,
      username: config.username,
      deviceId: device.record.id,
      fingerprint: deviceFingerprint(device.record),
    },
    `Linked: this device "${name}" ${device.record.id} now belongs to ${config.username}.`,
  )
}
