// The operator's token lives in sessionStorage: gone when the tab closes.
import type { Credentials } from "./api";

const TOKEN_KEY = "adminToken";
const OPERATOR_KEY = "adminOperator";

export function loadCredentials(): Credentials | null {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const operator = sessionStorage.getItem(OPERATOR_KEY) ?? undefined;
  return operator ? { token, operator } : { token };
}

export function saveCredentials({ token, operator }: Credentials): void {
  sessionStorage.setItem(TOKEN_KEY, token);
  if (operator) sessionStorage.setItem(OPERATOR_KEY, operator);
  else sessionStorage.removeItem(OPERATOR_KEY);
}

export function clearCredentials(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(OPERATOR_KEY);
}
