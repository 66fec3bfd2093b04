// Demo file the code-review policy refuses (matches **/secrets*).
export const DATABASE_PASSWORD = 'not-a-real-password';
