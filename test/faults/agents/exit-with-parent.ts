/**
 * Preloaded (`node --import`) into every process the fault suite, the fuzz
 * suite and the soak run spawn: exits when the process named by
 * ROTA_PARENT_PID is gone, so a test runner that is itself SIGKILLed never
 * leaves a broker or a worker behind.
 */
const parent = Number(process.env.ROTA_PARENT_PID ?? 0);
if (parent > 0) {
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      process.exit(3);
    }
  }, 500).unref();
}
