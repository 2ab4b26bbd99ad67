package org.lomo4j.memory;

/** What a buffer holds, as in Table 1 of the LOMO paper. */
public enum Category {
    PARAMETERS("Parameters"),
    GRADIENTS("Gradients"),
    OPTIMIZER_STATE("Optimizer states"),
    ACTIVATIONS("Activations"),
    SCRATCH("Scratch");

    private final String label;

    Category(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
