// Demo file the code-review policy refuses (matches **/.env*).
export const API_KEY = 'not-a-real-key';
