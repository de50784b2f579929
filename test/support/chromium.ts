/** How every browser test starts Debian's Chromium: headless, sandbox off (root), no background networking. */
export const CHROMIUM_PATH = process.env.MODEL_LENS_CHROMIUM ?? '/usr/bin/chromium';

/** Without the networking flags Chromium keeps trying to reach Google's hosts, which this machine refuses. */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
