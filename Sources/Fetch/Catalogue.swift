import Foundation

/// A file published on the web that headstart knows how to fetch.
public struct Source: Equatable {
    /// Short name for messages and the command line.
    public var name: String
    public var url: URL
    /// The local file name (the last component of the URL).
    public var filename: String
    /// The published digest, when there is one. The Horses-or-Humans zips have none: their contents are
    /// checked image by image against `Manifest.horsesOrHumans` instead.
    public var checksum: Checksum?

    public init(name: String, url: URL, filename: String, checksum: Checksum?) {
        self.name = name
        self.url = url
        self.filename = filename
        self.checksum = checksum
    }

    /// Downloads into `folder/filename` (resuming a `.part` there), verifies the checksum, and returns the result.
    public func download(into folder: String, downloader: Downloader = Downloader(),
                         progress: ((Int64, Int64?) -> Void)? = nil) throws -> DownloadResult {
        try downloader.download(from: url, to: (folder as NSString).appendingPathComponent(filename),
                                checksum: checksum, progress: progress)
    }
}

/// The real sources.
public enum Catalogue {
    /// Keras's ImageNet InceptionV3 weights without the top (legacy HDF5 layout), as
    /// `keras.applications.InceptionV3(include_top=False, weights="imagenet")` fetches them: URL and md5 from
    /// keras/src/applications/inception_v3.py (WEIGHTS_PATH_NO_TOP, `file_hash`), Keras 3.15.
    public static let inceptionV3NoTopWeights = Source(
        name: "weights",
        url: URL(string: "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
            + "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")!,
        filename: "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        checksum: .md5("bcbd6486424b2319ff4ef7d526e38f63"))

    /// The notop weights from where `environment` says: the mirror named by `HEADSTART_WEIGHTS_URL` when set
    /// (the same file, under the same MD5 check), else Keras's own URL.
    public static func inceptionV3NoTopWeights(environment: [String: String]) -> Source {
        var source = inceptionV3NoTopWeights
        if let mirror = environment["HEADSTART_WEIGHTS_URL"], let url = URL(string: mirror) { source.url = url }
        return source
    }

    // The two Horses-or-Humans zips as the book's code downloads them ("AI and Machine Learning for Coders",
    // chapter 3: `url = "https://storage.googleapis.com/learning-datasets/horse-or-human.zip"`, extracted with
    // zipfile.extractall(training_dir) and read with flow_from_directory(training_dir), so `horses/` and
    // `humans/` sit at the zip's root). Seen in readers' copies of the book code, e.g. GitHub
    // lavigneer/ai-for-coders-book chapter3/get_data.py and arielmagbanua/hcdc-ml-lecture h-or-h/main.py.
    // Dataset: "Horses or Humans" by Laurence Moroney, CC BY 2.0.

    /// Training images: 500 horses, 527 humans.
    public static let horsesOrHumansTraining = Source(
        name: "horse-or-human",
        url: URL(string: "https://storage.googleapis.com/learning-datasets/horse-or-human.zip")!,
        filename: "horse-or-human.zip",
        checksum: nil)

    /// Validation images: 128 horses, 128 humans.
    public static let horsesOrHumansValidation = Source(
        name: "validation-horse-or-human",
        url: URL(string: "https://storage.googleapis.com/learning-datasets/validation-horse-or-human.zip")!,
        filename: "validation-horse-or-human.zip",
        checksum: nil)

    public static let all = [inceptionV3NoTopWeights, horsesOrHumansTraining, horsesOrHumansValidation]

    public static func source(named name: String) -> Source? { all.first { $0.name == name } }
}
