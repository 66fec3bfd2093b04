// Demo component: readable under the code-review purpose (src/**/*.tsx).
export function Button(props: { label: string }): string {
  return `<button>${props.label}</button>`;
}
