// Vite's `?raw` suffix imports a file as its text (the tests read docs this way inside workerd).
declare module "*.md?raw" {
  const text: string;
  export default text;
}
