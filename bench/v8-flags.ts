/** The V8 setting pushgate's launchers use (npm start, the pushgate bin's shebang). */
export const PUSHGATE_V8_FLAGS = ['--max-semi-space-size=2'];
