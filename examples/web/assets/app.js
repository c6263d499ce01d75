// mutual-web's one script, for niceties only: every page works without it.
// It remembers the name typed into "Your name" on this browser and fills it
// in next time (localStorage stays on this device). A filled-in name is
// selected when the field gets focus, so typing another name replaces it
// rather than adding to it.
"use strict";

(function () {
	var KEY = "mutual-web.name";
	var store = null;
	try {
		store = window.localStorage;
	} catch (e) {
		return; // storage disabled: nothing to remember with
	}
	var saved = store.getItem(KEY) || "";
	document.querySelectorAll('input[data-remember="name"]').forEach(function (field) {
		var justFocused = false;
		if (saved && !field.value)
			field.value = saved;
		field.addEventListener("focus", function () {
			field.select();
			justFocused = true;
		});
		// The mouseup that ends the focusing click would undo the selection.
		field.addEventListener("mouseup", function (event) {
			if (justFocused)
				event.preventDefault();
			justFocused = false;
		});
		field.addEventListener("keydown", function () {
			justFocused = false;
		});
		if (field.form) {
			field.form.addEventListener("submit", function () {
				var name = field.value.trim();
				if (name)
					store.setItem(KEY, name);
			});
		}
	});
})();
