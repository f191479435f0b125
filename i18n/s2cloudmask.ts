<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1">
<context>
    <name>CloudMaskDockBase</name>
    <message>
        <location filename="../ui/dock.ui" line="17"/>
        <source>Sentinel-2 Cloud Mask</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="489"/>
        <source>Mask</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="68"/>
        <source>Input</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="74"/>
        <source>Mask a Sentinel-2 product as ESA delivers it, or a raster layer of the project that holds Sentinel-2 bands.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="102"/>
        <source>A Sentinel-2 L1C or L2A product: its .SAFE folder, the product .zip, or its MTD_MSIL1C.xml / MTD_MSIL2A.xml. You can also drop one onto this panel.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="307"/>
        <source>No product chosen.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="149"/>
        <source>Layer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="156"/>
        <source>A raster layer (GDAL) holding Sentinel-2 bands as digital numbers or reflectance.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="163"/>
        <source>Blue (B02)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="173"/>
        <source>Green (B03)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="183"/>
        <source>Red (B04)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="203"/>
        <source>SWIR 1.6 µm (B11)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="224"/>
        <source>Optional: without the SWIR bands the 4-band model runs.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="217"/>
        <source>SWIR 2.2 µm (B12)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="231"/>
        <source>Scale</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="238"/>
        <source>Reflectance = value × scale + offset. Sentinel-2 digital numbers: scale 0.0001.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="260"/>
        <source>Offset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="267"/>
        <source>Reflectance = value × scale + offset. Products of processing baseline 04.00 or later: -0.1.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="289"/>
        <source>Level</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="296"/>
        <source>Top-of-atmosphere (L1C) or surface (L2A) reflectance: picks the matching model.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="335"/>
        <source>Model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="342"/>
        <source>Leave empty for the built-in DLR U-Net that matches the product level, or choose an .onnx model with a model card.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="345"/>
        <source>ONNX models (*.onnx)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="352"/>
        <source>Device</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="362"/>
        <source>Resolution</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="447"/>
        <source>SCL</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="457"/>
        <source>Source</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="464"/>
        <source>The L2A product that matches this mask (its .zip or MTD_MSIL2A.xml) or an SCL raster.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="467"/>
        <source>L2A product or SCL raster (*.zip *.xml *.jp2 *.tif *.tiff *.vrt);;All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="477"/>
        <source>Output</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="499"/>
        <source>GeoTIFF (*.tif *.tiff)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="527"/>
        <source>Results</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="559"/>
        <source>Ready.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="587"/>
        <source>Stop the running mask; nothing half-written is left behind.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="590"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="597"/>
        <source>Run</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="105"/>
        <source>Drop a .SAFE, .zip or MTD xml here</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="112"/>
        <source>Choose a .SAFE folder, a product .zip or its MTD xml</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="115"/>
        <source>…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="193"/>
        <source>NIR (B08 or B8A)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="369"/>
        <source>Pixel size of the mask. It starts at the finest resolution the product has bands for; the model itself runs at its own resolution.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="376"/>
        <source>Buffer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="383"/>
        <source>Grow cloud, semi-transparent cloud and cloud shadow by this distance (0 m: no buffer).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="386"/>
        <source> m</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="402"/>
        <source>Shadow check</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="405"/>
        <source>Checks each cloud shadow against the sun and view angles of the product (cloud tops 0.2-12 km) and drops shadow on open water and on surfaces too bright to be shadowed. Products only: a raster layer has no angles here.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="418"/>
        <source>Limit to an extent</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="421"/>
        <source>Unticked: the whole product. Ticked: only this extent, which masks much faster.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="435"/>
        <source>SCL comparison</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="496"/>
        <source>The mask GeoTIFF. The SCL difference, the report and the map views are written beside it.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>CloudMaskPlugin</name>
    <message>
        <location filename="../plugin.py" line="60"/>
        <source>Sentinel-2 Cloud Mask</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py" line="62"/>
        <source>Mask clouds and cloud shadows in a Sentinel-2 product</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py" line="89"/>
        <source>Install dependencies…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py" line="72"/>
        <source>Diagnostics…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py" line="87"/>
        <source>Missing Python packages: {names}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py" line="69"/>
        <source>Create the fine-tuning environment…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>CloudMaskProvider</name>
    <message>
        <location filename="../processing/provider.py" line="28"/>
        <source>Sentinel-2 Cloud Mask</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../processing/provider.py" line="31"/>
        <source>Sentinel-2 Cloud Mask (U-Net cloud, thin-cloud and cloud-shadow masks)</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>CommandDialog</name>
    <message>
        <location filename="../ui/command_dialog.py" line="55"/>
        <source>Copy output</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/command_dialog.py" line="74"/>
        <source>Command: </source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/command_dialog.py" line="101"/>
        <source>
The command could not be started. Run it in a terminal (OSGeo4W Shell on Windows), then restart QGIS:
</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>CompareSclAlgorithm</name>
    <message>
        <location filename="../processing/compare_scl.py" line="50"/>
        <source>Compare a cloud mask with Sen2Cor&apos;s SCL</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../processing/compare_scl.py" line="53"/>
        <source>Comparison</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../processing/compare_scl.py" line="62"/>
        <source>Difference raster, agreement, Cohen&apos;s kappa and per-class figures of a mask against SCL.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>DependencyDialog</name>
    <message>
        <location filename="../ui/dependency_dialog.py" line="25"/>
        <source>Sentinel-2 Cloud Mask: install dependencies</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="27"/>
        <source>The installer&apos;s output (pip, then the self-test) appears here.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="29"/>
        <source>Install</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="44"/>
        <source>All required packages are installed (in {folder} or QGIS&apos;s own Python).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="58"/>
        <source>Installed, and the self-test passed. The plugin is ready; no restart needed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="64"/>
        <source>Installed, but the self-test failed (exit code {code}): the output below says which check. Copy it into a bug report.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="73"/>
        <source>Installation failed (exit code {code}); still missing: {names}. The output below says why; copy it into a bug report if it does not help.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="29"/>
        <source>Reinstall</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="31"/>
        <source>Install the missing packages.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="31"/>
        <source>Install the pinned versions again (after a broken or partial install).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="47"/>
        <source>Sentinel-2 Cloud Mask needs {names}. Install puts them into {folder}, outside the plugin folder so that plugin updates keep them, without touching QGIS&apos;s Python. It downloads about 200 MB, and 36 MB more where rasterio is installed too.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>DiagnosticsDialog</name>
    <message>
        <location filename="../ui/diagnostics_dialog.py" line="14"/>
        <source>Sentinel-2 Cloud Mask: diagnostics</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/diagnostics_dialog.py" line="20"/>
        <source>Copy to clipboard</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>FinetuneDialog</name>
    <message>
        <location filename="../ui/finetune_dialog.py" line="26"/>
        <source>its PyTorch environment {state}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/finetune_dialog.py" line="27"/>
        <source>Fine-tuning</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/finetune_dialog.py" line="29"/>
        <source>Create it…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/finetune_dialog.py" line="30"/>
        <source>Create the fine-tuning environment (a few minutes)</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MaskProductAlgorithm</name>
    <message>
        <location filename="../processing/mask_product.py" line="44"/>
        <source>Mask clouds in a Sentinel-2 product</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../processing/mask_product.py" line="50"/>
        <source>Four-class cloud mask (clear, cloud shadow, semi-transparent cloud, cloud) of an L1C or L2A product.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MaskRasterAlgorithm</name>
    <message>
        <location filename="../processing/mask_raster.py" line="61"/>
        <source>Mask clouds in a raster of Sentinel-2 bands</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../processing/mask_raster.py" line="67"/>
        <source>Four-class cloud mask of any raster layer holding Sentinel-2 bands, with the band mapping given.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MaskingAlgorithm</name>
    <message>
        <location filename="../processing/base.py" line="234"/>
        <source>Cloud masking</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ReferenceAlgorithm</name>
    <message>
        <location filename="../processing/base.py" line="244"/>
        <source>Reference and validation</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>TrainingEnvDialog</name>
    <message>
        <location filename="../ui/training_env_dialog.py" line="29"/>
        <source>Sentinel-2 Cloud Mask: fine-tuning environment</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/training_env_dialog.py" line="30"/>
        <source>CUDA build of PyTorch, for training on an NVIDIA GPU (several GB more)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/training_env_dialog.py" line="32"/>
        <source>The fine-tuning environment in {folder} is ready; create it again only if it is broken.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/training_env_dialog.py" line="32"/>
        <source>Fine-tuning runs PyTorch in an environment of its own, outside QGIS: {folder}, beside the plugin&apos;s packages, so plugin updates keep it. Create downloads PyTorch&apos;s CPU build (about 200 MB, 1 GB on disk), onnx and numpy and their few helpers from the Python package index, then checks the environment with a short self-test. It takes a few minutes.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/training_env_dialog.py" line="41"/>
        <source>The output of pip and of the self-test appears here.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/training_env_dialog.py" line="42"/>
        <source>Create again</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/training_env_dialog.py" line="42"/>
        <source>Create</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/training_env_dialog.py" line="57"/>
        <source>Created, and the self-test passed: fine-tuning is ready.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/training_env_dialog.py" line="61"/>
        <source>Creating the environment failed (exit code {code}); the output below says why. Copy it into a bug report if it does not help.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
