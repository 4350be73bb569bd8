/*
 * Catalog admin: the tier-table editor and the currency shown beside money inputs.
 *
 * Tier cells post as parallel lists of inputs (<name>-up_to, -unit_price, -flat_price), so
 * nothing needs copying into a hidden field before submit: this file only adds and removes
 * rows. Listeners sit on the document because Django's "add another" creates rate card forms
 * (and their tier tables) after the page has loaded.
 */
(function () {
    "use strict";

    function rowsOf(table) {
        return Array.from(table.querySelectorAll("[data-tier-row]"));
    }

    // Renumber the rows and show where each tier starts: where the previous one ends.
    function refresh(table) {
        let start = "0";
        rowsOf(table).forEach(function (row, index) {
            const number = String(index + 1);
            row.querySelector("[data-tier-number]").textContent = number;
            row.querySelector("[data-tier-from]").textContent = start || "…";
            row.querySelectorAll("[data-tier-cell]").forEach(function (input) {
                const label = input.dataset.tierCell.replace("_", " ");
                input.setAttribute("aria-label", "Tier " + number + ": " + label);
            });
            start = row.querySelector("[data-tier-cell=up_to]").value.trim();
        });
    }

    document.addEventListener("click", function (event) {
        const add = event.target.closest("[data-tier-add]");
        if (add) {
            const table = add.closest("[data-tier-table]");
            const rows = rowsOf(table);
            const last = rows[rows.length - 1];
            const row = last.cloneNode(true);
            row.classList.remove("ml-tier-error");
            row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
            last.after(row);
            refresh(table);
            row.querySelector("input").focus();
            return;
        }
        const remove = event.target.closest("[data-tier-remove]");
        if (remove) {
            const table = remove.closest("[data-tier-table]");
            const row = remove.closest("[data-tier-row]");
            if (rowsOf(table).length > 1) {
                row.remove();
            } else {
                row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
            }
            refresh(table);
        }
    });

    document.addEventListener("input", function (event) {
        const table = event.target.closest("[data-tier-table]");
        if (table) {
            refresh(table);
        }
        if (event.target.id === "id_currency") {
            const code = event.target.value.trim().toUpperCase();
            document.querySelectorAll("[data-currency]").forEach(function (label) {
                label.textContent = code;
            });
        }
    });
})();
