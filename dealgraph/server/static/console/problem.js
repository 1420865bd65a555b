// The one place the console shows what went wrong, in words: the API's message and its code.
const box = () => document.getElementById("problem");

export function report(error) {
  const element = box();
  element.replaceChildren(error.message || String(error));
  if (error.code) {
    const code = document.createElement("span");
    code.className = "code";
    code.textContent = error.code;
    element.append(code);
  }
  element.hidden = false;
}

export function clearProblem() {
  box().hidden = true;
  box().replaceChildren();
}
