# Fit one benchmark case with ordinal::clmm and print the figures as JSON.
# Usage: Rscript bench/r_clmm.R DATA "FORMULA" REPEATS [NAGQ]
#   DATA is a CSV file, or "wine" / "soup" for the data sets that ship with ordinal.
# The time is R's own system.time() around clmm(), formula handling included; with
# REPEATS > 1 the median.
suppressPackageStartupMessages({
  library(ordinal)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
if (args[1] %in% c("wine", "soup")) {
  data <- get(args[1], envir = asNamespace("ordinal"))
} else {
  data <- read.csv(args[1], stringsAsFactors = TRUE)
  response <- all.vars(as.formula(args[2]))[1]
  data[[response]] <- factor(data[[response]], ordered = TRUE)
}
repeats <- as.integer(args[3])
nagq <- if (length(args) >= 4) as.integer(args[4]) else 1L
times <- numeric(repeats)
for (i in seq_len(repeats)) {
  gc()
  times[i] <- system.time(fit <- clmm(as.formula(args[2]), data = data, nAGQ = nagq))[["elapsed"]]
}
cat(toJSON(list(
  seconds = median(times),
  logLik = as.numeric(logLik(fit)),
  max_grad = max(abs(fit$gradient)),
  niter = fit$info$niter,
  R_version = R.version.string,
  ordinal_version = as.character(packageVersion("ordinal"))
), auto_unbox = TRUE, digits = NA))
