import { useEffect, useRef } from 'preact/hooks'
import QRCode from 'qrcode'

/** A safety number and its QR code, for comparing in person or by scanning. */
export function Fingerprint({ value, testId }: { value: string; testId: string }) {
  const canvas = useRef<HTMLCanvasElement>(null)
  useEffect(() => {
    if (canvas.current)
      void QRCode.toCanvas(canvas.current, value, { errorCorrectionLevel: 'M', margin: 2, width: 160 })
  }, [value])
  return (
    <div class="safety">
      <p class="fingerprint" data-testid={testId}>
        {value}
      </p>
      <canvas ref={canvas} aria-label="QR code of the safety fingerprint" />
    </div>
  )
}
