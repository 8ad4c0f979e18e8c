import jsQR from 'jsqr'

/**
 * Reads a QR code from the camera: frames are drawn to a canvas and decoded with jsQR a few
 * times a second until a code appears or `signal` aborts. The camera is released either way.
 */
export async function scanQr(video: HTMLVideoElement, signal: AbortSignal): Promise<string> {
  if (!navigator.mediaDevices?.getUserMedia)
    throw new Error('this browser cannot use a camera here (it needs https)')
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: 'environment' },
    audio: false,
  })
  try {
    video.srcObject = stream
    await video.play()
    const canvas = document.createElement('canvas')
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!
    for (;;) {
      if (signal.aborted) throw new DOMException('cancelled', 'AbortError')
      await new Promise((r) => setTimeout(r, 200))
      if (video.videoWidth === 0) continue
      canvas.width = video.videoWidth
      canvas.height = video.videoHeight
      ctx.drawImage(video, 0, 0)
      const img = ctx.getImageData(0, 0, canvas.width, canvas.height)
      const code = jsQR(img.data, img.width, img.height, { inversionAttempts: 'dontInvert' })
      if (code?.data) return code.data
    }
  } finally {
    for (const t of stream.getTracks()) t.stop()
    video.srcObject = null
  }
}
