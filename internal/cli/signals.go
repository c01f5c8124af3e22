package cli

// ExitInterrupted is the exit code of a command stopped by SIGINT or SIGTERM
// (128 + SIGINT, as shells report it): it finished or undid the step in
// flight, and said what the next run does.
const ExitInterrupted = 130
