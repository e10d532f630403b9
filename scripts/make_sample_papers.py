"""Generate the sample corpus in ``examples/papers/``: seven short PDF "papers".

The texts were written for the Clinical Metabolomics Oracle as demonstration material; they
are textbook-level summaries, not publications. Their DOIs use the reserved example prefix
10.5555 and are not registered. The :data:`PAPERS` structure below is the single source of
truth for the texts; the PDFs are generated from it.

Usage::

    .venv/bin/python scripts/make_sample_papers.py [--out examples/papers]

The output is deterministic: reportlab runs with ``invariant=1`` (fixed creation date and
document id) and all metadata is fixed, so every run writes byte-identical files.
Paper 3 switches to a two-column layout from its second page on, so the ingester's
two-column handling is exercised by real data.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    NextPageTemplate,
    PageTemplate,
    Paragraph,
)

AUTHOR = "Clinical Metabolomics Oracle sample corpus"
DOI_PREFIX = "10.5555/cmo.sample."
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "examples" / "papers"
SAMPLE_NOTE = ("Sample document written for the Clinical Metabolomics Oracle demonstration "
               "corpus. It is a textbook-level summary, not a peer-reviewed publication; its DOI "
               "uses the reserved example prefix and is not registered.")


@dataclass(frozen=True)
class Paper:
    """One sample paper: numbered sections of prose paragraphs."""

    number: int
    slug: str
    title: str
    abstract: str
    keywords: tuple[str, ...]
    sections: tuple[tuple[str, tuple[str, ...]], ...]
    two_column_from_page_2: bool = False

    @property
    def doi(self) -> str:
        return f"{DOI_PREFIX}{self.number:03d}"

    @property
    def filename(self) -> str:
        return f"{self.number:02d}_{self.slug}.pdf"


# --- the texts (single source of truth) ------------------------------------------------------

PAPERS: tuple[Paper, ...] = (
    Paper(
        number=1,
        slug="clinical_metabolomics_overview",
        title="Clinical Metabolomics: An Introductory Overview",
        abstract=(
            "Clinical metabolomics is the comprehensive measurement of small-molecule "
            "metabolites in samples from patients and research participants, with the aim of "
            "understanding, diagnosing and monitoring disease. This overview defines the "
            "metabolome, describes the biofluids most often analysed in clinical studies, "
            "places metabolomics alongside genomics and proteomics, and outlines the main "
            "applications of the field in clinical research."),
        keywords=("metabolome", "biofluids", "plasma", "serum", "urine",
                  "cerebrospinal fluid", "systems biology"),
        sections=(
            ("1. What clinical metabolomics is", (
                ("Metabolomics is the study of the small molecules, or metabolites, that are "
                 "present in a cell, tissue, organism or biological fluid. Metabolites include "
                 "amino acids, sugars, organic acids, nucleotides, lipids, bile acids and many "
                 "other compounds that are the substrates, intermediates and products of "
                 "enzymatic reactions. Clinical metabolomics applies these measurements to human "
                 "samples collected in a medical or research setting, with the goal of learning "
                 "something useful about health and disease."),
                ("Unlike a conventional clinical chemistry test, which usually measures one "
                 "analyte such as glucose or creatinine, a metabolomics experiment typically "
                 "measures tens to thousands of metabolites at once. This breadth allows "
                 "investigators to see coordinated changes across whole pathways rather than "
                 "isolated values, and it makes the approach well suited to generating new "
                 "hypotheses about disease mechanisms."),
            )),
            ("2. The metabolome", (
                ("The complete set of small molecules in a biological system is called the "
                 "metabolome. It is chemically far more diverse than the genome or the "
                 "proteome: metabolites range from very polar compounds such as sugars and "
                 "amino acids to highly hydrophobic lipids, and their concentrations span many "
                 "orders of magnitude. No single analytical method can capture all of them, so "
                 "in practice every study measures only part of the metabolome."),
                ("The human metabolome contains endogenous metabolites made by our own cells as "
                 "well as exogenous compounds derived from diet, drugs, environmental exposures "
                 "and the metabolic activity of the gut microbiota. The metabolome is also "
                 "dynamic. It changes over minutes to hours in response to meals, exercise, "
                 "sleep, stress and medication, which is both an opportunity, because it "
                 "reflects the current physiological state, and a challenge, because careful "
                 "study design is needed to separate disease-related signals from everyday "
                 "variation."),
            )),
            ("3. Biofluids used in clinical studies", (
                ("Blood is the most widely used sample type. Plasma is the liquid fraction of "
                 "blood collected with an anticoagulant such as EDTA, heparin or citrate and "
                 "separated from cells by centrifugation. Serum is the liquid that remains after "
                 "blood has been allowed to clot. Because clotting releases compounds from "
                 "platelets and continues enzymatic activity for a time, serum and plasma "
                 "metabolite profiles differ, and the two should not be mixed within one study. "
                 "The choice of anticoagulant can also influence the measurements."),
                ("Urine is collected non-invasively and in large volumes, and it is rich in "
                 "water-soluble metabolites and in the end products of metabolism excreted by "
                 "the kidneys. Its overall concentration varies widely with fluid intake, so "
                 "urinary metabolite levels are usually normalised, for example to creatinine "
                 "or to osmolality, before samples are compared."),
                ("Cerebrospinal fluid (CSF) surrounds the brain and spinal cord and is obtained "
                 "by lumbar puncture. Because it is in close contact with the central nervous "
                 "system, CSF is valuable for studying neurological and psychiatric disorders, "
                 "although the invasive collection limits the number of samples available. "
                 "Other sample types include tissue biopsies, dried blood spots, saliva, "
                 "exhaled breath and faeces."),
            )),
            ("4. Metabolomics among the omics", (
                ("Genomics describes the DNA sequence an individual inherits, transcriptomics "
                 "measures which genes are being expressed as RNA, and proteomics measures the "
                 "proteins that are produced. Metabolites sit downstream of all of these "
                 "layers: they are the result of enzyme activity acting on substrates supplied "
                 "by diet, the microbiome and the environment. For this reason the metabolome "
                 "is often described as the molecular layer closest to the phenotype."),
                ("The omics layers are complementary rather than competing. A genetic variant "
                 "may explain why an enzyme works poorly, while metabolomics shows the "
                 "consequence as an accumulated substrate or a missing product. Integrating "
                 "metabolomics with genomic and proteomic data is a central aim of systems "
                 "biology and of precision medicine."),
            )),
            ("5. Applications in clinical research", (
                ("Clinical metabolomics is used to discover biomarkers that help diagnose "
                 "disease, predict its course or indicate how a patient will respond to "
                 "treatment. It is used to study disease mechanisms, for example changes in "
                 "energy metabolism in cancer or in amino acid metabolism in insulin "
                 "resistance. Newborn screening for inborn errors of metabolism is a "
                 "long-established clinical application of targeted metabolite measurement. "
                 "Pharmacometabolomics examines how metabolic profiles relate to drug "
                 "response, and large epidemiological studies use metabolomics to link diet, "
                 "lifestyle and environmental exposures to long-term health outcomes."),
            )),
            ("6. Practical considerations", (
                ("Because metabolites can change after a sample is taken, pre-analytical "
                 "factors matter. Fasting status, time of day, the delay before processing, "
                 "storage temperature and repeated freezing and thawing can all alter results. "
                 "Clinical studies therefore use standard operating procedures for collection "
                 "and handling, and samples are commonly stored frozen at -80 degrees Celsius. "
                 "Recording these details alongside the data makes results easier to interpret "
                 "and to reproduce."),
            )),
            ("7. Conclusion", (
                ("Clinical metabolomics offers a broad, functional view of human biology that "
                 "complements genetic and protein measurements. Its value depends on careful "
                 "sample collection, appropriate analytical platforms and rigorous data "
                 "analysis, topics that are addressed in the other papers of this sample "
                 "corpus."),
            )),
        ),
    ),
    Paper(
        number=2,
        slug="targeted_vs_untargeted",
        title="Targeted and Untargeted Metabolomics: Complementary Strategies",
        abstract=(
            "Metabolomics studies follow one of two broad strategies. Targeted metabolomics "
            "quantifies a predefined set of known metabolites using authentic standards, "
            "while untargeted metabolomics records as many signals as possible without a "
            "prior hypothesis. This paper compares the two approaches, explains why "
            "untargeted data are usually semi-quantitative, summarises the levels used to "
            "report confidence in metabolite identification, and discusses the trade-offs "
            "that guide the choice between them."),
        keywords=("targeted metabolomics", "untargeted metabolomics", "quantification",
                  "internal standards", "identification levels"),
        sections=(
            ("1. Two strategies", (
                ("A metabolomics study begins with a choice about what to measure. In a "
                 "targeted study the investigator decides in advance which metabolites are of "
                 "interest, often because a biological hypothesis points to a specific pathway. "
                 "In an untargeted study the aim is to detect as many metabolites as the "
                 "analytical method allows and to discover, after the fact, which of them "
                 "differ between groups. The two strategies answer different questions and are "
                 "frequently used one after the other."),
            )),
            ("2. Targeted metabolomics", (
                ("Targeted metabolomics is hypothesis-driven. The method is optimised for a "
                 "defined panel of compounds, which may range from a handful to a few hundred "
                 "metabolites. Each analyte is measured against an authentic chemical standard, "
                 "and calibration curves prepared from known concentrations allow results to "
                 "be reported in absolute units such as micromoles per litre."),
                ("Stable isotope-labelled internal standards, which behave almost identically "
                 "to the analyte but differ in mass, are added to each sample to correct for "
                 "losses during preparation and for matrix effects in the instrument. Targeted "
                 "assays are frequently run on triple quadrupole mass spectrometers in multiple "
                 "reaction monitoring mode, which is highly selective and sensitive. Because "
                 "they can be validated for accuracy, precision, linearity and limits of "
                 "detection and quantification, targeted methods are the basis of clinical "
                 "laboratory tests."),
                ("The main limitation of targeted metabolomics is that it only sees what it "
                 "was designed to see. A metabolite outside the panel cannot be found, however "
                 "important it may be for the disease under study."),
            )),
            ("3. Untargeted metabolomics", (
                ("Untargeted metabolomics, also called global profiling, is discovery-driven. "
                 "Samples are typically analysed by liquid chromatography coupled to "
                 "high-resolution mass spectrometry, for example with Orbitrap or "
                 "time-of-flight instruments. Data processing software detects features, each "
                 "defined by a mass-to-charge ratio and a retention time, and a single "
                 "experiment can yield thousands of them."),
                ("Untargeted data are usually semi-quantitative. Signal intensities are "
                 "compared between samples in relative terms, such as fold changes, because "
                 "there is no calibration curve for most features and because ionisation "
                 "efficiency differs from compound to compound. A further complication is that "
                 "one metabolite can give rise to several features through isotopes, adducts "
                 "and in-source fragments, so the number of features is larger than the "
                 "number of distinct metabolites."),
                ("The largest bottleneck is identification. Many features cannot be matched "
                 "confidently to a known structure, and the unknown features can represent a "
                 "substantial share of the data."),
            )),
            ("4. Levels of identification", (
                ("To make the confidence of an annotation explicit, the Metabolomics Standards "
                 "Initiative proposed reporting levels. At level 1, a compound is identified "
                 "by matching at least two independent properties, such as retention time and "
                 "fragmentation spectrum, to an authentic standard analysed under the same "
                 "conditions. Level 2 describes a putatively annotated compound, matched for "
                 "example to a spectral library without a reference standard. Level 3 "
                 "describes a putatively characterised compound class, and level 4 describes "
                 "an unknown compound that can nevertheless be detected and compared across "
                 "samples. Reporting these levels prevents tentative annotations from being "
                 "read as confirmed identifications."),
            )),
            ("5. Trade-offs and combined designs", (
                ("Targeted methods offer accurate, reproducible and comparable concentrations "
                 "but limited coverage. Untargeted methods offer broad coverage and the chance "
                 "of unexpected discoveries, but at the cost of relative quantification, more "
                 "complex data processing and uncertain identities. Semi-targeted or widely "
                 "targeted approaches sit between the two, measuring large panels of known "
                 "compounds with relative quantification."),
                ("A common design uses untargeted profiling in a discovery cohort to nominate "
                 "candidate metabolites, followed by a targeted, fully quantitative assay of "
                 "those candidates in an independent validation cohort. This combination uses "
                 "the strengths of each strategy and is a standard route from an initial "
                 "observation to a robust biomarker."),
            )),
            ("6. Conclusion", (
                ("Targeted and untargeted metabolomics are complementary. The choice depends "
                 "on whether the research question is to measure known metabolites precisely "
                 "or to explore the metabolome for new signals, and many projects benefit from "
                 "using both."),
            )),
        ),
    ),
    Paper(
        number=3,
        slug="analytical_platforms",
        title="Analytical Platforms for Metabolomics: LC-MS, GC-MS and NMR Spectroscopy",
        abstract=(
            "Three analytical platforms dominate metabolomics: liquid chromatography-mass "
            "spectrometry (LC-MS), gas chromatography-mass spectrometry (GC-MS) and nuclear "
            "magnetic resonance (NMR) spectroscopy. This paper explains the principles of "
            "each platform, including electrospray ionisation modes, reversed-phase and "
            "hydrophilic interaction chromatography, chemical derivatisation for GC-MS, and "
            "the reproducibility and lower sensitivity of NMR, and it discusses how the "
            "platforms complement one another."),
        keywords=("LC-MS", "GC-MS", "NMR", "electrospray ionisation", "HILIC",
                  "reversed phase", "derivatisation"),
        sections=(
            ("1. Introduction", (
                ("The chemical diversity of the metabolome means that no single instrument can "
                 "measure every metabolite. Mass spectrometry (MS) measures the mass-to-charge "
                 "ratio (m/z) of ions and is very sensitive; it is almost always preceded by a "
                 "separation step, either liquid or gas chromatography. NMR spectroscopy "
                 "measures the behaviour of atomic nuclei in a magnetic field and requires no "
                 "separation. Each platform covers a different part of the metabolome, and "
                 "large studies often combine them."),
            )),
            ("2. Liquid chromatography-mass spectrometry", (
                ("LC-MS is the most widely used platform in metabolomics because it covers a "
                 "broad range of compound classes with high sensitivity. In the liquid "
                 "chromatograph, the sample is carried by a mobile phase through a column, and "
                 "metabolites are separated according to their interactions with the "
                 "stationary phase before they reach the mass spectrometer."),
                ("Reversed-phase chromatography, most often on C18 columns, uses a non-polar "
                 "stationary phase and a gradient from water to an organic solvent such as "
                 "acetonitrile or methanol. It retains moderately polar and non-polar "
                 "compounds well and is the usual choice for lipids. Very polar metabolites, "
                 "such as amino acids, sugars and many organic acids, are poorly retained on "
                 "reversed-phase columns. Hydrophilic interaction liquid chromatography "
                 "(HILIC) uses a polar stationary phase and a mobile phase rich in organic "
                 "solvent, and it retains these polar compounds. Many laboratories run both "
                 "methods to widen coverage."),
                ("Electrospray ionisation (ESI) is the standard interface between LC and MS. It "
                 "is a soft ionisation technique that produces mostly intact molecular ions. "
                 "In positive ion mode, metabolites are typically detected as protonated "
                 "molecules, [M+H]+, or as adducts with sodium or ammonium; in negative ion "
                 "mode they are detected as deprotonated molecules, [M-H]-. Because some "
                 "compounds ionise well in only one polarity, samples are often analysed in "
                 "both modes. Co-eluting compounds can compete for charge in the source, an "
                 "effect known as ion suppression, which is one reason why internal standards "
                 "and good chromatography are important."),
                ("The mass analyser determines the kind of data obtained. Triple quadrupole "
                 "instruments are preferred for sensitive targeted quantification, whereas "
                 "high-resolution analysers such as time-of-flight and Orbitrap instruments "
                 "measure accurate masses suitable for untargeted profiling. Tandem mass "
                 "spectrometry (MS/MS) fragments selected ions, and the resulting fragment "
                 "spectra help to identify the structure of a metabolite."),
            )),
            ("3. Gas chromatography-mass spectrometry", (
                ("GC-MS separates compounds in the gas phase, so analytes must be volatile and "
                 "thermally stable. Many metabolites, including amino acids, sugars and organic "
                 "acids, are polar and non-volatile and must first be chemically derivatised. "
                 "A widely used two-step procedure is methoximation, which stabilises carbonyl "
                 "groups, followed by silylation with a reagent such as MSTFA, which replaces "
                 "active hydrogens with trimethylsilyl groups and makes the molecules volatile."),
                ("GC-MS usually employs electron ionisation at 70 eV. This hard ionisation "
                 "fragments molecules extensively but very reproducibly, so spectra recorded on "
                 "different instruments can be compared with large reference libraries. "
                 "Retention indices, calculated relative to a series of n-alkanes, add a second "
                 "property for identification. GC-MS offers excellent chromatographic "
                 "resolution and is well established for organic acids, sugars and other "
                 "small polar metabolites after derivatisation."),
            )),
            ("4. NMR spectroscopy", (
                ("NMR spectroscopy, most often proton (1H) NMR, detects nuclei whose resonance "
                 "frequency depends on their chemical environment. The position of a signal, "
                 "its chemical shift, together with its splitting pattern provides detailed "
                 "structural information. Signal area is directly proportional to the number "
                 "of nuclei, so NMR is inherently quantitative, and a single reference "
                 "compound can be used for quantification."),
                ("NMR is non-destructive, needs little sample preparation and is highly "
                 "reproducible between laboratories and over time, which makes it attractive "
                 "for large cohort studies. Its main drawback is lower sensitivity than mass "
                 "spectrometry: NMR typically detects metabolites present at micromolar "
                 "concentrations and above, so it measures fewer metabolites in a given "
                 "sample. Overlapping signals in complex mixtures can also complicate "
                 "analysis, although two-dimensional experiments help to resolve them."),
            )),
            ("5. Choosing and combining platforms", (
                ("The choice of platform depends on the question. LC-MS offers the broadest "
                 "coverage and highest sensitivity for untargeted work; GC-MS is robust and "
                 "library-friendly for small volatile or derivatisable metabolites; NMR offers "
                 "reproducible, quantitative measurements with simple sample handling. Because "
                 "their coverage overlaps only partly, combining platforms gives a more "
                 "complete picture of the metabolome than any one alone."),
            )),
        ),
        two_column_from_page_2=True,
    ),
    Paper(
        number=4,
        slug="biomarker_discovery_validation",
        title="Biomarker Discovery and Validation in Clinical Metabolomics",
        abstract=(
            "Metabolomics is a productive source of candidate biomarkers, but few candidates "
            "become clinically useful tests. This paper describes the path from discovery to "
            "validation: study design in discovery and validation cohorts, evaluation of "
            "classification performance with receiver operating characteristic curves, and "
            "the risk of overfitting. Two well-studied examples, branched-chain amino acids "
            "in insulin resistance and trimethylamine N-oxide in cardiovascular disease, "
            "illustrate both the promise and the limits of metabolite biomarkers."),
        keywords=("biomarker", "validation cohort", "ROC curve", "AUC", "overfitting",
                  "branched-chain amino acids", "TMAO"),
        sections=(
            ("1. What a biomarker is", (
                ("A biomarker is a characteristic that is measured as an indicator of normal "
                 "biological processes, pathogenic processes or responses to an exposure or "
                 "intervention. Biomarkers serve different purposes: diagnostic biomarkers "
                 "detect a disease, prognostic biomarkers indicate its likely course, "
                 "predictive biomarkers indicate who is likely to respond to a treatment, and "
                 "monitoring biomarkers track disease activity or treatment effects over time. "
                 "The intended use determines how a biomarker must be evaluated."),
            )),
            ("2. Discovery", (
                ("Biomarker discovery usually begins with an untargeted or broad targeted "
                 "metabolomics analysis of a discovery cohort, often a case-control sample in "
                 "which patients with a condition are compared with people without it. The "
                 "aim is to find metabolites whose levels differ between groups. Because "
                 "metabolite levels are affected by age, sex, body mass, diet, fasting status, "
                 "medication and kidney function, cases and controls should be matched or "
                 "these factors should be adjusted for. Samples from cases and controls should "
                 "also be collected, stored and analysed in the same way and in a randomised "
                 "order, so that differences in handling are not mistaken for biology."),
            )),
            ("3. Validation", (
                ("A candidate found in one cohort must be confirmed in an independent "
                 "validation cohort, ideally recruited at another site and analysed with a "
                 "targeted, quantitative assay. Validation has several layers. Analytical "
                 "validation shows that the assay measures the metabolite accurately and "
                 "reproducibly. Clinical validation shows that the measurement is associated "
                 "with the clinical state in the intended population. Clinical utility, the "
                 "final test, asks whether using the biomarker improves decisions or outcomes "
                 "for patients. Many candidates that look promising in a discovery study fail "
                 "at one of these steps."),
            )),
            ("4. ROC curves and AUC", (
                ("The performance of a biomarker used to classify people is commonly summarised "
                 "with a receiver operating characteristic (ROC) curve. The curve plots "
                 "sensitivity, the proportion of true cases correctly identified, against one "
                 "minus specificity, the proportion of non-cases wrongly classified as cases, "
                 "for every possible decision threshold. The area under the curve (AUC) "
                 "summarises the curve in one number: an AUC of 0.5 corresponds to chance and "
                 "an AUC of 1.0 to perfect separation. The AUC can be read as the probability "
                 "that a randomly chosen case has a more extreme value than a randomly chosen "
                 "control. A high AUC alone does not make a useful test; the chosen threshold, "
                 "the prevalence of the disease and the consequences of false results all "
                 "matter in practice."),
            )),
            ("5. Overfitting", (
                ("Metabolomics data sets usually contain many more variables than samples. In "
                 "this situation a statistical model can fit noise in the discovery data and "
                 "appear to classify perfectly while failing on new samples, a problem known "
                 "as overfitting. Safeguards include keeping a test set that is never used "
                 "during model building, performing feature selection inside each fold of "
                 "cross-validation rather than before it, using permutation tests to check "
                 "that performance exceeds what random labels would give, and, above all, "
                 "external validation in an independent cohort. Reporting guidelines for "
                 "diagnostic accuracy and prediction model studies encourage transparent "
                 "description of these steps."),
            )),
            ("6. Example: branched-chain amino acids and insulin resistance", (
                ("Elevated circulating levels of the branched-chain amino acids leucine, "
                 "isoleucine and valine are consistently associated with obesity and insulin "
                 "resistance. Prospective cohort studies, including analyses in the "
                 "Framingham Offspring Study, found that higher fasting levels of "
                 "branched-chain and aromatic amino acids were associated with an increased "
                 "risk of developing type 2 diabetes years later. Whether these amino acids "
                 "contribute to insulin resistance or mainly reflect it is still being "
                 "investigated, which illustrates that a useful risk marker need not be a "
                 "cause of disease."),
            )),
            ("7. Example: TMAO and cardiovascular risk", (
                ("Trimethylamine N-oxide (TMAO) links diet, gut microbes and host metabolism. "
                 "Gut bacteria convert dietary choline, phosphatidylcholine and L-carnitine "
                 "into trimethylamine, which is absorbed and oxidised in the liver by "
                 "flavin-containing monooxygenase 3 to form TMAO. Higher plasma TMAO levels "
                 "have been associated with an increased risk of major adverse cardiovascular "
                 "events in several clinical cohorts. TMAO is cleared by the kidneys, so "
                 "reduced kidney function raises its levels and can confound the association, "
                 "and the extent to which TMAO itself causes cardiovascular disease remains "
                 "under debate."),
            )),
            ("8. Conclusion", (
                ("Turning a metabolomic signal into a clinical biomarker requires careful "
                 "study design, independent validation, honest assessment of classification "
                 "performance and attention to confounding. The examples of branched-chain "
                 "amino acids and TMAO show how metabolomics can reveal robust associations "
                 "while leaving questions of causality and clinical utility to further work."),
            )),
        ),
    ),
    Paper(
        number=5,
        slug="inborn_errors_of_metabolism",
        title="Inborn Errors of Metabolism and Newborn Screening by Tandem Mass Spectrometry",
        abstract=(
            "Inborn errors of metabolism are inherited disorders in which a defective enzyme "
            "or transporter disrupts a metabolic pathway. Their diagnosis has always relied "
            "on metabolite measurements, and newborn screening with tandem mass spectrometry "
            "is one of the most successful applications of metabolite profiling in medicine. "
            "This paper describes the screening process and the metabolic signatures of "
            "phenylketonuria, maple syrup urine disease, fatty acid oxidation disorders and "
            "organic acidurias."),
        keywords=("inborn errors of metabolism", "newborn screening", "tandem mass spectrometry",
                  "phenylketonuria", "maple syrup urine disease", "acylcarnitines",
                  "organic acidurias"),
        sections=(
            ("1. Inborn errors of metabolism", (
                ("Inborn errors of metabolism are genetic disorders, most of them inherited in "
                 "an autosomal recessive manner, in which reduced activity of an enzyme, "
                 "transporter or cofactor blocks a metabolic pathway. The block causes the "
                 "substrate and related compounds to accumulate and the product to become "
                 "deficient, and either effect can be harmful. Although each disorder is rare, "
                 "together they are an important cause of illness in infancy and childhood. "
                 "Because the primary defect is expressed as abnormal metabolite "
                 "concentrations, metabolite analysis is central to their diagnosis, and many "
                 "of the disorders can be treated effectively if they are recognised early."),
            )),
            ("2. Newborn screening", (
                ("Newborn screening began in the 1960s with the Guthrie bacterial inhibition "
                 "assay for phenylalanine, which made it possible to test dried blood spots "
                 "collected on filter paper. Today a few drops of blood from a heel prick, "
                 "usually taken in the first days of life, are still dried on a card and sent "
                 "to a screening laboratory."),
                ("The introduction of tandem mass spectrometry (MS/MS) in the 1990s transformed "
                 "screening. From a single small punch of a dried blood spot, MS/MS measures "
                 "many amino acids and acylcarnitines in one short analysis, often by flow "
                 "injection without chromatographic separation. This allows dozens of "
                 "disorders to be screened at once. A screening result is not a diagnosis: "
                 "abnormal results lead to confirmatory testing, which may include plasma "
                 "amino acids, urine organic acids, enzyme assays and molecular genetic "
                 "testing. Prematurity, parenteral nutrition and sample collection timing can "
                 "cause false-positive results."),
            )),
            ("3. Phenylketonuria", (
                ("Phenylketonuria (PKU) is caused by deficiency of phenylalanine hydroxylase, "
                 "the liver enzyme that converts phenylalanine to tyrosine using the cofactor "
                 "tetrahydrobiopterin. Phenylalanine accumulates in blood and, if untreated, "
                 "causes severe intellectual disability. Screening detects an elevated "
                 "phenylalanine concentration, and the ratio of phenylalanine to tyrosine "
                 "improves the distinction between affected infants and false positives. "
                 "Treatment with a phenylalanine-restricted diet, started early, allows normal "
                 "development, and some patients respond to supplementation with "
                 "tetrahydrobiopterin in the form of sapropterin."),
            )),
            ("4. Maple syrup urine disease", (
                ("Maple syrup urine disease (MSUD) results from deficient activity of the "
                 "branched-chain alpha-keto acid dehydrogenase complex, which catalyses a "
                 "step in the breakdown of the branched-chain amino acids leucine, isoleucine "
                 "and valine. These amino acids and their keto acids accumulate, and leucine is "
                 "particularly toxic to the brain. Affected newborns with the classic form can "
                 "develop poor feeding, lethargy and encephalopathy within days of birth, and "
                 "the urine may smell of maple syrup. Alloisoleucine in plasma is a "
                 "characteristic diagnostic marker. Because leucine, isoleucine, "
                 "alloisoleucine and hydroxyproline have the same nominal mass, flow injection "
                 "MS/MS reports them together, and second-tier tests with chromatographic "
                 "separation are used to resolve them."),
            )),
            ("5. Fatty acid oxidation disorders and acylcarnitines", (
                ("Fatty acids are carried into mitochondria as carnitine esters and broken down "
                 "by beta-oxidation, an important energy source during fasting. When an enzyme "
                 "of this pathway is deficient, acyl groups of a characteristic chain length "
                 "accumulate and are exported as acylcarnitines, producing a recognisable "
                 "acylcarnitine profile in blood. Medium-chain acyl-CoA dehydrogenase (MCAD) "
                 "deficiency, one of the most common fatty acid oxidation disorders, shows "
                 "elevated octanoylcarnitine (C8) together with smaller increases in C6 and "
                 "C10 species. Very-long-chain acyl-CoA dehydrogenase deficiency raises "
                 "long-chain species such as C14:1. Affected children can develop hypoketotic "
                 "hypoglycaemia during fasting or illness, so management centres on avoiding "
                 "prolonged fasting."),
            )),
            ("6. Organic acidurias", (
                ("Organic acidurias, also called organic acidaemias, are disorders of the "
                 "breakdown of amino acids and other compounds in which organic acids "
                 "accumulate. Examples include propionic acidaemia, caused by deficient "
                 "propionyl-CoA carboxylase; methylmalonic acidaemia, caused by defects of "
                 "methylmalonyl-CoA mutase or of vitamin B12 (cobalamin) metabolism; and "
                 "isovaleric acidaemia, caused by deficient isovaleryl-CoA dehydrogenase. "
                 "Newborn screening detects propionylcarnitine (C3) in propionic and "
                 "methylmalonic acidaemia and isovalerylcarnitine (C5) in isovaleric "
                 "acidaemia. Affected infants can present with metabolic acidosis and "
                 "hyperammonaemia. Analysis of urine organic acids by GC-MS remains the key "
                 "confirmatory test."),
            )),
            ("7. Conclusion", (
                ("Inborn errors of metabolism show how metabolite measurements translate "
                 "directly into clinical benefit. Targeted MS/MS screening identifies affected "
                 "infants before symptoms appear, and untargeted metabolomics is increasingly "
                 "used alongside genome sequencing to investigate patients whose metabolic "
                 "disorder remains undiagnosed."),
            )),
        ),
    ),
    Paper(
        number=6,
        slug="pharmacometabolomics",
        title="Pharmacometabolomics: Metabolic Profiles and Individual Drug Response",
        abstract=(
            "People differ widely in how they respond to the same drug. Pharmacometabolomics "
            "studies how an individual's metabolic profile before treatment relates to drug "
            "metabolism, efficacy and adverse effects. This paper reviews the basics of drug "
            "metabolism, the founding studies of pharmacometabolomics with acetaminophen "
            "(paracetamol), work on statin response, and the place of metabolic profiling "
            "in personalised medicine."),
        keywords=("pharmacometabolomics", "drug metabolism", "acetaminophen", "paracetamol",
                  "statins", "personalised medicine", "gut microbiome"),
        sections=(
            ("1. Variation in drug response", (
                ("The same dose of a drug can be effective in one patient, ineffective in "
                 "another and toxic in a third. Genetic variation in drug-metabolising enzymes "
                 "and transporters explains part of this variability, and pharmacogenomics "
                 "has produced clinically used tests for some drug-gene pairs. Much of the "
                 "variation, however, comes from non-genetic factors such as age, diet, organ "
                 "function, other medications and the gut microbiota. Pharmacometabolomics "
                 "aims to capture these influences by measuring metabolites, which reflect "
                 "both genes and environment."),
            )),
            ("2. Drug metabolism in brief", (
                ("Most drugs are metabolised before they are excreted, mainly in the liver. "
                 "Phase I reactions, many of them oxidations catalysed by cytochrome P450 "
                 "enzymes, introduce or expose functional groups. Phase II reactions conjugate "
                 "the drug or its metabolites with polar groups through glucuronidation, "
                 "sulfation, acetylation or conjugation with glutathione, producing compounds "
                 "that are easier to excrete. Genetic variants in enzymes such as CYP2D6 and "
                 "CYP2C19 divide people into metaboliser groups ranging from poor to ultrarapid "
                 "for the drugs those enzymes handle. Metabolite measurements can "
                 "describe the resulting metabolic phenotype directly, for example through the "
                 "ratio of a drug to its metabolite in blood or urine."),
            )),
            ("3. Pre-dose profiles predict drug handling", (
                ("The central idea of pharmacometabolomics is that a metabolic profile "
                 "measured before a drug is given can predict what will happen after it is "
                 "given. The concept was first demonstrated in rats, where the urinary "
                 "metabolite profile collected before dosing was related to the metabolism of "
                 "acetaminophen and to the liver damage it caused at high doses."),
                ("A subsequent study in healthy volunteers examined urine collected before a "
                 "standard dose of acetaminophen. People whose pre-dose urine contained more "
                 "p-cresol sulfate, a compound produced from the metabolism of tyrosine by gut "
                 "bacteria and then sulfated in the host, excreted relatively less "
                 "acetaminophen sulfate compared with acetaminophen glucuronide. The "
                 "interpretation is that the bacterial metabolite competes with the drug for "
                 "sulfation. This finding showed that the gut microbiome can influence drug "
                 "metabolism and that a pre-dose metabolic profile can reveal it."),
            )),
            ("4. Acetaminophen metabolism and toxicity", (
                ("At therapeutic doses acetaminophen is mostly converted to glucuronide and "
                 "sulfate conjugates. A small fraction is oxidised by cytochrome P450 enzymes, "
                 "chiefly CYP2E1, to the reactive metabolite N-acetyl-p-benzoquinone imine "
                 "(NAPQI), which is normally detoxified by conjugation with glutathione. After "
                 "an overdose the conjugation pathways become saturated, glutathione is "
                 "depleted, and NAPQI binds to liver proteins and causes hepatocellular "
                 "injury. N-acetylcysteine, which replenishes glutathione, is the standard "
                 "antidote. Because the balance between these pathways differs among people, "
                 "acetaminophen has remained a model drug for pharmacometabolomic research."),
            )),
            ("5. Statins", (
                ("Statins inhibit HMG-CoA reductase, the rate-limiting enzyme of cholesterol "
                 "synthesis, and lower low-density lipoprotein (LDL) cholesterol. The size of "
                 "the LDL reduction varies considerably between individuals, and a minority of "
                 "patients experience muscle symptoms. Pharmacogenomic work has linked a "
                 "common variant in the SLCO1B1 gene, which encodes a hepatic uptake "
                 "transporter, to an increased risk of simvastatin-induced myopathy. "
                 "Pharmacometabolomic studies of simvastatin-treated participants have "
                 "reported that baseline levels of certain lipids and of bile acids produced "
                 "by gut bacteria were associated with the degree of LDL cholesterol lowering, "
                 "suggesting that metabolic state and the microbiome contribute to statin "
                 "response alongside genetics."),
            )),
            ("6. Towards personalised medicine", (
                ("Pharmacometabolomics complements pharmacogenomics. A genotype is fixed, "
                 "whereas a metabolic profile reflects the current state of a patient, "
                 "including diet, co-medication, disease and the microbiome. Combining both "
                 "kinds of information could help to choose the right drug and dose for each "
                 "patient. Before this becomes routine, findings must be replicated in "
                 "independent cohorts, sampling conditions such as fasting and time of day "
                 "must be standardised, and the added value over existing clinical predictors "
                 "must be demonstrated in prospective studies."),
            )),
        ),
    ),
    Paper(
        number=7,
        slug="data_analysis_challenges",
        title="Data Analysis Challenges in Clinical Metabolomics",
        abstract=(
            "A metabolomics data set is only as reliable as the processing and statistics "
            "applied to it. This paper reviews the main analytical challenges: batch effects "
            "and instrument drift and their control with pooled quality control samples, "
            "normalisation, missing values, multiple testing and the false discovery rate, "
            "multivariate methods such as PCA and PLS-DA, metabolite annotation with "
            "databases such as HMDB and METLIN, and reporting according to FAIR principles "
            "and the recommendations of the Metabolomics Standards Initiative."),
        keywords=("batch effects", "quality control", "normalisation", "missing values",
                  "false discovery rate", "PCA", "PLS-DA", "annotation", "FAIR data"),
        sections=(
            ("1. From raw data to a feature table", (
                ("Raw mass spectrometry files are converted into a table of features, each "
                 "described by a mass-to-charge ratio, a retention time and an intensity in "
                 "every sample. Open-source tools such as XCMS and MZmine perform peak "
                 "detection, alignment of retention times across samples and grouping of "
                 "related signals. Every choice of parameters in this step affects the final "
                 "results, so settings should be recorded and reported."),
            )),
            ("2. Batch effects and quality control", (
                ("Large clinical studies are analysed over days or weeks and often in several "
                 "batches. Instrument sensitivity drifts within a batch and shifts between "
                 "batches, producing systematic differences that are unrelated to biology. "
                 "Randomising the injection order, so that study groups are spread evenly "
                 "across batches, prevents these effects from being confounded with the "
                 "comparison of interest."),
                ("Pooled quality control (QC) samples are prepared by mixing small aliquots of "
                 "the study samples, so that they contain the same metabolites in an average "
                 "composition. They are injected at the start of a run to condition the "
                 "system and then at regular intervals throughout. Because the QC samples are "
                 "identical, any variation among them reflects analytical variation. This "
                 "variation can be modelled along the injection order and removed, and "
                 "features with a high relative standard deviation across QC injections can "
                 "be excluded as unreliable. Blank samples help to identify signals from "
                 "solvents and contamination."),
            )),
            ("3. Normalisation and scaling", (
                ("Normalisation removes unwanted differences in overall sample concentration "
                 "or instrument response. Common approaches include scaling to the total "
                 "signal, probabilistic quotient normalisation, normalisation to internal "
                 "standards, and, for urine, normalisation to creatinine or osmolality. "
                 "Metabolite intensities are usually skewed, so a log transformation is "
                 "applied before statistics, and scaling methods such as autoscaling or Pareto "
                 "scaling keep abundant metabolites from dominating multivariate models."),
            )),
            ("4. Missing values", (
                ("Feature tables contain many missing values. Some arise because a metabolite "
                 "is below the limit of detection, so the value is missing for a reason "
                 "related to its concentration; others arise from failures in peak detection "
                 "and are closer to random. The two kinds call for different treatment. "
                 "Features missing in most samples are commonly filtered out, and remaining "
                 "gaps may be imputed with a small value, such as a fraction of the minimum, "
                 "or with methods such as k-nearest neighbours or random forests. The chosen "
                 "strategy can change statistical results and should be reported."),
            )),
            ("5. Multiple testing", (
                ("Testing thousands of features one by one produces many false positives by "
                 "chance: at a significance level of 0.05, about one in twenty tests of a true "
                 "null hypothesis will appear significant. The Bonferroni correction controls "
                 "the family-wise error rate but is very conservative. The Benjamini-Hochberg "
                 "procedure instead controls the false discovery rate (FDR), the expected "
                 "proportion of false positives among the features declared significant, and "
                 "is widely used in metabolomics."),
            )),
            ("6. Multivariate analysis", (
                ("Principal component analysis (PCA) is an unsupervised method that summarises "
                 "the main sources of variation without using group labels. It is the first "
                 "check of data quality: pooled QC samples should cluster tightly, and "
                 "outliers and batch effects become visible. Partial least squares "
                 "discriminant analysis (PLS-DA) and its orthogonal variant OPLS-DA are "
                 "supervised methods that find the combinations of features that best "
                 "separate predefined groups. Because they can separate groups even in random "
                 "data, supervised models must be validated with cross-validation, permutation "
                 "testing and, ideally, an independent test set."),
            )),
            ("7. Metabolite annotation and databases", (
                ("A significant feature is only useful once it is linked to a metabolite. An "
                 "accurate mass alone usually matches several candidate formulas and "
                 "structures, so annotation combines mass, isotope pattern, retention time and "
                 "MS/MS fragmentation. The Human Metabolome Database (HMDB) catalogues human "
                 "metabolites with their chemical, biological and clinical information. "
                 "METLIN is a large metabolite and tandem mass spectral database, and MassBank "
                 "and GNPS provide openly accessible spectral libraries. The identification "
                 "levels of the Metabolomics Standards Initiative should accompany each "
                 "reported annotation."),
            )),
            ("8. FAIR data and reporting standards", (
                ("Metabolomics data should be Findable, Accessible, Interoperable and "
                 "Reusable, the FAIR principles. Public repositories such as MetaboLights and "
                 "the Metabolomics Workbench accept raw data, processed data and metadata, and "
                 "open formats such as mzML make raw files readable by different software. The "
                 "Metabolomics Standards Initiative has proposed minimum reporting standards "
                 "that describe what to report about the study design, sample preparation, "
                 "chemical analysis and data processing. Following them allows others to "
                 "evaluate, reproduce and build on published results."),
            )),
        ),
    ),
)


# --- layout --------------------------------------------------------------------------------

PAGE_W, PAGE_H = letter
MARGIN = 0.9 * inch
GUTTER = 0.3 * inch
BODY_FONT, BOLD_FONT, SANS, SANS_BOLD = "Times-Roman", "Times-Bold", "Helvetica", "Helvetica-Bold"

STYLES = {
    "title": ParagraphStyle("title", fontName=SANS_BOLD, fontSize=17, leading=21,
                            alignment=TA_CENTER, spaceBefore=4, spaceAfter=8),
    "author": ParagraphStyle("author", fontName=SANS, fontSize=10.5, leading=14,
                             alignment=TA_CENTER, spaceAfter=4),
    "note": ParagraphStyle("note", fontName="Helvetica-Oblique", fontSize=8, leading=10,
                           alignment=TA_CENTER, spaceAfter=12),
    "abstract": ParagraphStyle("abstract", fontName=BODY_FONT, fontSize=10.5, leading=14,
                               alignment=TA_JUSTIFY, leftIndent=18, rightIndent=18,
                               spaceAfter=12),
    "keywords": ParagraphStyle("keywords", fontName=BODY_FONT, fontSize=10, leading=13,
                               leftIndent=18, rightIndent=18, spaceAfter=12),
    "heading": ParagraphStyle("heading", fontName=SANS_BOLD, fontSize=14, leading=17,
                              spaceBefore=12, spaceAfter=8, keepWithNext=1),
    "body": ParagraphStyle("body", fontName=BODY_FONT, fontSize=11.5, leading=16,
                           alignment=TA_JUSTIFY, spaceAfter=10),
}


def _story(paper: Paper) -> list[Flowable]:
    s = STYLES
    story: list[Flowable] = []
    if paper.two_column_from_page_2:
        story.append(NextPageTemplate("two_columns"))  # page 1 is one column, the rest two
    story += [
        Paragraph(escape(paper.title), s["title"]),
        Paragraph(escape(AUTHOR), s["author"]),
        Paragraph(escape(SAMPLE_NOTE), s["note"]),
        Paragraph("<b>Abstract.</b> " + escape(paper.abstract), s["abstract"]),
        Paragraph("<b>Keywords:</b> " + escape("; ".join(paper.keywords)), s["keywords"]),
    ]
    for heading, paragraphs in paper.sections:
        story.append(Paragraph(escape(heading), s["heading"]))
        story += [Paragraph(escape(text), s["body"]) for text in paragraphs]
    return story


def _header(paper: Paper) -> Callable[[Canvas, BaseDocTemplate], None]:
    """Page header, drawn before the page's text: the DOI line on page 1, a running head
    (centred, so it spans both columns of a two-column page) on later pages."""
    def draw(canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        top = PAGE_H - 0.55 * inch
        if doc.page == 1:
            canvas.setFont(SANS_BOLD, 9)
            canvas.drawString(MARGIN, top, f"DOI: {paper.doi}")
        else:
            canvas.setFont(SANS, 8.5)
            canvas.drawCentredString(PAGE_W / 2, top, f"{AUTHOR} | Sample paper {paper.number}")
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, top - 5, PAGE_W - MARGIN, top - 5)
        canvas.restoreState()

    return draw


def _footer(canvas: Canvas, doc: BaseDocTemplate) -> None:
    """Centred page number, drawn after the page's text."""
    canvas.saveState()
    canvas.setFont(SANS, 9)
    canvas.drawCentredString(PAGE_W / 2, 0.5 * inch, f"Page {doc.page}")
    canvas.restoreState()


def build_paper(paper: Paper, out_dir: Path) -> Path:
    """Write ``paper`` as a PDF into ``out_dir``; return the file's path."""
    path = out_dir / paper.filename
    doc = BaseDocTemplate(
        str(path), pagesize=letter, leftMargin=MARGIN, rightMargin=MARGIN,
        topMargin=MARGIN, bottomMargin=MARGIN, title=paper.title, author=AUTHOR,
        subject=f"Sample paper {paper.number} (DOI {paper.doi}, not registered)",
        keywords=", ".join(paper.keywords), creator="scripts/make_sample_papers.py",
        producer="Clinical Metabolomics Oracle sample corpus (ReportLab)",
        invariant=1,  # fixed dates and document id: byte-identical output
        lang="en")
    header = _header(paper)
    width, height = PAGE_W - 2 * MARGIN, PAGE_H - 2 * MARGIN
    single = Frame(MARGIN, MARGIN, width, height, id="single", leftPadding=0, rightPadding=0)
    col_w = (width - GUTTER) / 2
    columns = [Frame(MARGIN, MARGIN, col_w, height, id="left", leftPadding=0, rightPadding=0),
               Frame(MARGIN + col_w + GUTTER, MARGIN, col_w, height, id="right",
                     leftPadding=0, rightPadding=0)]
    doc.addPageTemplates([
        PageTemplate(id="one_column", frames=[single], onPage=header, onPageEnd=_footer),
        PageTemplate(id="two_columns", frames=columns, onPage=header, onPageEnd=_footer)])
    doc.build(_story(paper))
    return path


def build_all(out_dir: Path) -> list[Path]:
    """Write every paper of :data:`PAPERS` into ``out_dir`` (created if missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [build_paper(paper, out_dir) for paper in PAPERS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: examples/papers)")
    args = parser.parse_args(argv)
    for path in build_all(args.out):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
