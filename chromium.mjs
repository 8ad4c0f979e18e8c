// How every test and benchmark starts Chromium: Debian's build, never a downloaded one, with the
// flags this machine needs (root, no GPU, and no background networking, whose connections the
// closed network refuses).
export const CHROMIUM_PATH = '/usr/bin/chromium'

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
