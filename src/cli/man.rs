//! `flowc man`: the manual as one roff page, built from the clap definitions.

use clap::CommandFactory as _;

use super::Cli;

/// The manual: one page, so `flowc man > flowc.1` installs all of it. clap_mangen renders a
/// page per command; each subcommand's page becomes a section (`FLOWC RENDER`) of the main one,
/// its own sections demoted to subsections, in place of the list of `flowc-render(1)` pages
/// that would not exist.
pub(super) fn manual() -> Vec<u8> {
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    let main = clap_mangen::Man::new(cli.clone());
    let mut page = Vec::new();
    // Rendering into memory cannot fail.
    let _ = main.render_title(&mut page);
    let mut head = Vec::new();
    let _ = main.render_name_section(&mut head);
    let _ = main.render_synopsis_section(&mut head);
    let _ = main.render_description_section(&mut head);
    let _ = main.render_options_section(&mut head);
    page.extend_from_slice(without_preamble(&head).as_bytes());
    // A command with commands of its own (`templates`) gets its section, then one for each of
    // them (`templates pull`).
    let mut commands: Vec<(String, clap::Command)> = Vec::new();
    for sub in cli.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let name = format!("FLOWC {}", sub.get_name().to_uppercase());
        commands.push((name.clone(), sub.clone()));
        if sub.has_subcommands() {
            for nested in sub.get_subcommands().filter(|nested| !nested.is_hide_set()) {
                let nested = nested
                    .clone()
                    .bin_name(format!("flowc {} {}", sub.get_name(), nested.get_name()));
                commands.push((format!("{name} {}", nested.get_name().to_uppercase()), nested));
            }
        }
    }
    for (name, sub) in &commands {
        page.extend_from_slice(format!(".SH \"{name}\"\n").as_bytes());
        let man = clap_mangen::Man::new(sub.clone());
        let mut section = Vec::new();
        let _ = man.render_synopsis_section(&mut section);
        let _ = man.render_description_section(&mut section);
        let _ = man.render_options_section(&mut section);
        if sub.get_after_help().is_some() || sub.get_after_long_help().is_some() {
            let _ = man.render_extra_section(&mut section);
        }
        let mut section = without_preamble(&section)
            .replace(".SH ", ".SS ")
            // The examples keep their lines and indentation.
            .replace(".SS EXTRA\nExamples:\n", ".SS EXAMPLES\n.nf\n");
        if section.contains(".SS EXAMPLES\n.nf\n") {
            section.push_str(".fi\n");
        }
        page.extend_from_slice(section.as_bytes());
    }
    page.extend_from_slice(crate::exit::codes_roff().as_bytes());
    let mut version = Vec::new();
    let _ = main.render_version_section(&mut version);
    page.extend_from_slice(without_preamble(&version).as_bytes());
    page
}

/// A rendered piece of the page without the two lines of set-up roff each piece starts with:
/// the page needs them once. Control lines (`.SH`) stay at the start of a line, and text lines
/// that start with a dot are escaped by roff (`\&.`), so line-wise edits are safe.
fn without_preamble(roff: &[u8]) -> String {
    String::from_utf8_lossy(roff)
        .lines()
        .filter(|line| !line.starts_with(".ie \\n(.g .ds Aq") && !line.starts_with(".el .ds Aq"))
        .map(|line| format!("{line}\n"))
        .collect()
}
