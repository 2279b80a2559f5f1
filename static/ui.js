// keyway's hosted pages work without JavaScript; this only adds a "Show password" toggle next to every password
// field marked data-toggle (labels come from data-show / data-hide, so they are translated by the server).
(function () {
  "use strict";
  var fields = document.querySelectorAll("input[type=password][data-toggle]");
  Array.prototype.forEach.call(fields, function (input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "link toggle-password";
    button.setAttribute("aria-controls", input.id);
    button.setAttribute("aria-pressed", "false");
    button.textContent = input.getAttribute("data-show");
    button.addEventListener("click", function () {
      var shown = input.type === "text";
      input.type = shown ? "password" : "text";
      button.setAttribute("aria-pressed", shown ? "false" : "true");
      button.textContent = input.getAttribute(shown ? "data-show" : "data-hide");
    });
    input.insertAdjacentElement("afterend", button);
  });
})();
